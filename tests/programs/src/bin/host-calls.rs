//! Calls into the host in a tight loop for ever (the clock and the random
//! source): a hostile module that never runs a long stretch of its own code.

fn main() {
    let mut buf = [0u8; 16];
    let mut sum = 0u64;
    loop {
        let now = std::time::SystemTime::now();
        std::hint::black_box(now);
        // Ignoring the error is fine: the call is the point.
        let _ = std::fs::metadata("/");
        buf[0] = buf[0].wrapping_add(1);
        sum = sum.wrapping_add(u64::from(std::hint::black_box(buf[0])));
        std::hint::black_box(sum);
    }
}

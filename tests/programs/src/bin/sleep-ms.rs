//! Sleeps argv[1] milliseconds (default 20), then prints `slept N ms`.

fn main() {
    let ms: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    std::thread::sleep(std::time::Duration::from_millis(ms));
    println!("slept {ms} ms");
}

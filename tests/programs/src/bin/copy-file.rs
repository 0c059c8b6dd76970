//! Copies the file argv[1] to argv[2] without printing what it holds (so a
//! test can see a Secret's file reach the guest without the value landing
//! in the instance's log); exits 1 when either side fails.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (from, to) = (&args[1], &args[2]);
    match std::fs::read(from).and_then(|bytes| std::fs::write(to, &bytes).map(|()| bytes.len())) {
        Ok(n) => println!("copied {n} bytes from {from} to {to}"),
        Err(e) => {
            println!("cannot copy {from} to {to}: {e}");
            std::process::exit(1);
        }
    }
}

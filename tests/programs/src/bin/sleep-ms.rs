//! Sleeps argv[1] milliseconds (default 20), then prints `slept N ms` (and,
//! given argv[2], writes it to that file: a test sees whether the guest ran
//! to its end).

fn main() {
    let ms: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    std::thread::sleep(std::time::Duration::from_millis(ms));
    println!("slept {ms} ms");
    if let Some(path) = std::env::args().nth(2) {
        std::fs::write(&path, format!("slept {ms} ms\n")).expect("writing the file");
    }
}

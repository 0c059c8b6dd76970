//! Prints argv[1] MiB (default 5) of numbered lines to stdout.

use std::io::Write;

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let mut out = std::io::stdout().lock();
    let mut written = 0;
    let mut line = 0u64;
    while written < mib << 20 {
        let text = format!("line {line:010} of guest output\n");
        out.write_all(text.as_bytes()).unwrap();
        written += text.len();
        line += 1;
    }
}

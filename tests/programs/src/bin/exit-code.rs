//! Exits with the code given as its first argument (default 3), after printing
//! a line, so tests can check the exit code and that the log was kept.

fn main() {
    let code: i32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    println!("exiting with {code}");
    std::process::exit(code);
}

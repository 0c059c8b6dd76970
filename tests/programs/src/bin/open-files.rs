//! Opens the file argv[1] argv[2] times and keeps every handle open, printing
//! how many it holds every thousand; a hostile module trying to exhaust the
//! host's file descriptors.

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a file to open");
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(50_000);
    let mut held = Vec::with_capacity(count);
    for i in 0..count {
        match std::fs::File::open(&path) {
            Ok(file) => held.push(file),
            Err(e) => {
                println!("open {i} failed: {e}");
                std::process::exit(1);
            }
        }
        if (i + 1) % 1000 == 0 {
            println!("holding {} open files", i + 1);
        }
    }
    println!("holding all {count}");
}

//! `wq-coarse`: the coarse-parallel work-queue worker. The host gives each
//! instance exactly one queue item on stdin (the seed's `amqp-consume …
//! cat`); the worker prints `Processing <item>`. The item is acknowledged
//! only when the instance succeeds.
//!
//! `--fail-once-on ITEM` makes the first attempt at ITEM fail, to show that
//! the item goes back to the queue and is processed by a retry;
//! `--work-ms MS` stands for real work taking that long.

use std::io::Read;

fn main() {
    let mut item = String::new();
    std::io::stdin()
        .read_to_string(&mut item)
        .expect("reading the item from stdin");
    let item = item.trim_end();
    let args: Vec<String> = std::env::args().collect();
    let fail_on = args
        .iter()
        .position(|a| a == "--fail-once-on")
        .and_then(|i| args.get(i + 1));
    if fail_on.is_some_and(|f| f == item) && wasmjob_sdk::Context::current().attempt == 0 {
        eprintln!("failing on {item} on purpose");
        std::process::exit(1);
    }
    let work_ms: u64 = args
        .iter()
        .position(|a| a == "--work-ms")
        .and_then(|i| args.get(i + 1))
        .map_or(0, |ms| ms.parse().expect("--work-ms takes milliseconds"));
    std::thread::sleep(std::time::Duration::from_millis(work_ms));
    println!("Processing {item}");
}

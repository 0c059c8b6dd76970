//! `wq-fine`: the fine-parallel work-queue worker, the seed's `worker.py`
//! over the host's `wasmjob:plugin/queue` interface: lease an item, work on
//! it, complete it, until the queue is empty; then exit 0.
//!
//! Usage: `wq-fine [--lease SECS] [--work-ms MS] [--die-holding ITEM]`.
//! `--die-holding ITEM` makes the first attempt crash (a trap) while holding
//! ITEM's lease, to show that the item comes back when the lease expires.

use std::time::Duration;

use wasmjob_sdk::{Context, queue};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let lease = Duration::from_secs(
        flag(&args, "--lease").map_or(10, |v| v.parse().expect("--lease takes seconds")),
    );
    let work = Duration::from_millis(
        flag(&args, "--work-ms").map_or(0, |v| v.parse().expect("--work-ms takes milliseconds")),
    );
    let die_holding = flag(&args, "--die-holding");
    let ctx = Context::current();

    println!("Worker {} (attempt {})", ctx.instance_name, ctx.attempt);
    println!(
        "Initial queue state: empty={}",
        queue::is_empty().expect("queue")
    );
    while !queue::is_empty().expect("queue") {
        match queue::lease(lease).expect("queue") {
            Some(item) => {
                let text = item.text();
                if die_holding.as_deref() == Some(text.as_str()) && ctx.attempt == 0 {
                    println!("Crashing while holding {text}");
                    std::process::abort();
                }
                println!("Working on {text}");
                std::thread::sleep(work);
                item.complete().expect("completing the item");
            }
            None => {
                println!("Waiting for work");
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
    println!("Queue empty, exiting");
}

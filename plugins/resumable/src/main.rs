//! `resumable`: counts from 1 to N, saving a checkpoint after every step, and
//! prints where it started. With `--fail-at K` the first attempt fails on
//! purpose after saving K; the Job's retry loads the checkpoint and carries
//! on from K + 1 instead of starting over — what a retried Kubernetes Pod
//! cannot do.
//!
//! Usage: `resumable [N] [--fail-at K]` (N defaults to 10).

use wasmjob_sdk::{Context, checkpoint, log};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target: u32 = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.parse().expect("N must be a whole number"))
        .unwrap_or(10);
    let fail_at: Option<u32> = args
        .iter()
        .position(|a| a == "--fail-at")
        .and_then(|i| args.get(i + 1))
        .map(|k| k.parse().expect("--fail-at takes a whole number"));

    let ctx = Context::current();
    let mut n: u32 = checkpoint::load()
        .and_then(|bytes| String::from_utf8(bytes).ok()?.parse().ok())
        .unwrap_or(0);
    if n == 0 {
        println!("attempt {}: starting at 1", ctx.attempt);
    } else {
        println!(
            "attempt {}: resuming after {n} from the checkpoint",
            ctx.attempt
        );
    }
    while n < target {
        n += 1;
        println!("count {n}");
        checkpoint::save(n.to_string().as_bytes()).expect("saving the checkpoint");
        if fail_at == Some(n) && ctx.attempt == 0 {
            log::error("failing on purpose", &[("at", &n.to_string())]);
            std::process::exit(1);
        }
    }
    log::info("done", &[("counted", &n.to_string())]);
}

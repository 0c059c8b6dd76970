//! cursor: what a CronJob's run keeps for the next one, in `wasi:keyvalue`.
//! Each run counts itself (an atomic increment of `runs`), prints where the
//! last run stopped (`cursor`, absent the first time), and leaves its own
//! scheduled time (or its run number) as the cursor for the next run. The
//! bucket belongs to the CronJob, and the node keeps it across restarts
//! (see `examples/cursor-cronjob.yaml`).

use std::process::ExitCode;

use wasmjob_sdk::Context;
use wasmjob_sdk::keyvalue::{Bucket, Error};

fn run() -> Result<(), Error> {
    let bucket = Bucket::open("default")?;
    let run = bucket.increment("runs", 1)?;
    let last = bucket.get("cursor")?;
    match last {
        Some(cursor) => println!(
            "run {run}: the last run stopped at {}",
            String::from_utf8_lossy(&cursor)
        ),
        None => println!("run {run}: the first run"),
    }
    let here = Context::current()
        .scheduled_time
        .unwrap_or_else(|| format!("run {run}"));
    bucket.set("cursor", here.as_bytes())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

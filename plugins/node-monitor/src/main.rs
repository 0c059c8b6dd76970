//! `node-monitor`: the per-node daemon of the DaemonSet example. Every few
//! seconds it logs a heartbeat with its node name and what it sees in a
//! mounted host directory (how many entries, and the first line of a
//! status file when there is one).
//!
//! Usage: `node-monitor [--dir /host] [--interval SECS] [--beats N]`;
//! `--beats 0` (the default) runs until stopped.

use std::path::Path;
use std::time::Duration;

use wasmjob_sdk::{Context, log};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = flag(&args, "--dir").unwrap_or_else(|| "/host".into());
    let interval: u64 =
        flag(&args, "--interval").map_or(5, |v| v.parse().expect("--interval takes seconds"));
    let beats: u64 =
        flag(&args, "--beats").map_or(0, |v| v.parse().expect("--beats takes a count"));
    let node = Context::current().node_name;

    let mut beat = 0u64;
    loop {
        beat += 1;
        let (entries, status) = look(Path::new(&dir));
        log::info(
            "heartbeat",
            &[
                ("node", &node),
                ("beat", &beat.to_string()),
                ("dir", &dir),
                ("entries", &entries),
                ("status", &status),
            ],
        );
        if beats != 0 && beat >= beats {
            break;
        }
        std::thread::sleep(Duration::from_secs(interval));
    }
}

/// (entry count or the error, first line of `status` or `-`).
fn look(dir: &Path) -> (String, String) {
    let entries = match std::fs::read_dir(dir) {
        Ok(list) => list.count().to_string(),
        Err(e) => format!("unreadable: {e}"),
    };
    let status = std::fs::read_to_string(dir.join("status"))
        .ok()
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "-".into());
    (entries, status)
}

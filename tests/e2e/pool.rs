//! The instance pool on small devices (issue 36, "Edge-sized build"):
//! `--memory-reservation` bounds the address space the pool reserves, each
//! linear memory gets its share, and what does not fit is refused with the
//! setting named.

use wasmjob_tests::{Server, Session, dist, fixture, items, job_yaml};

use crate::outcomes::only_instance;

/// The process's virtual size (`VmSize`), in bytes.
fn virtual_size(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmSize:"))
        .expect("VmSize");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

#[test]
fn a_bounded_node_reserves_what_it_is_given_and_runs_jobs() {
    let s = Session::new();
    let server = Server::start(&s, &["--memory-reservation", "16Gi"]);
    let log = s.serve_log();
    assert!(
        log.contains("instance pool of 256 instances reserves") && log.contains("each bounded to"),
        "{log}"
    );
    let yaml = job_yaml("pi", &dist("pi.wasm"), &["50"], "", "");
    let path = s.write("pi.yaml", &yaml);
    let applied = s.client(&server, &["apply", "-f", path.to_str().unwrap()]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let job = s.wait_finished(&server, "pi");
    assert_eq!(job["status"]["succeeded"], 1, "{job}");
    // Everything the process maps (code, heap, threads' stacks, the
    // instances' stacks and tables) besides the memories stays far below
    // the rest of the machine's first terabyte.
    let bounded = virtual_size(server.pid());
    assert!(bounded < 40 << 30, "VmSize {bounded}");

    // The default pool of the same node reserves terabytes.
    let other = Session::new();
    let unbounded = Server::start(&other, &[]);
    assert!(virtual_size(unbounded.pid()) > 1 << 40);
}

#[test]
fn a_memory_growing_past_the_nodes_bound_is_oom_killed_naming_the_setting() {
    let s = Session::new();
    // One instance: two slots (one and its decommit batch), four memories of
    // ~32 MiB each; the instance's own limit (256Mi by default) is higher.
    let yaml = job_yaml(
        "bomb",
        &fixture("grow-memory.wat"),
        &[],
        "  backoffLimit: 0",
        "",
    );
    let path = s.write("bomb.yaml", &yaml);
    let ran = s.wasmjob(&[
        "run",
        "-f",
        path.to_str().unwrap(),
        "-o",
        "json",
        "--memory-reservation",
        "128Mi",
    ]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let status = only_instance(&ran.json());
    assert_eq!(status["reason"], "OOMKilled", "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("past this node's bound of") && message.contains("--memory-reservation"),
        "{message}"
    );
}

#[test]
fn a_module_whose_initial_memory_is_past_the_bound_is_refused_before_it_runs() {
    let s = Session::new();
    let yaml = job_yaml("big", &fixture("big-initial-memory.wat"), &[], "", "");
    let path = s.write("big.yaml", &yaml);
    let file = path.to_str().unwrap();
    let ran = s.wasmjob(&["run", "-f", file, "--memory-reservation", "128Mi"]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("the module's memory does not fit this node's bound of")
            && ran.stderr.contains("larger --memory-reservation"),
        "{}",
        ran.stderr
    );
    // Without the bound it runs.
    let ran = s.wasmjob(&["run", "-f", file, "-o", "json"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(items(&ran.json(), "Instance").len(), 1);
}

#[test]
fn a_reservation_too_small_or_unreadable_is_bad_input_and_nothing_is_written() {
    let s = Session::new();
    let yaml = job_yaml("pi", &dist("pi.wasm"), &["5"], "", "");
    let path = s.write("pi.yaml", &yaml);
    let file = path.to_str().unwrap();
    // (A node that started by mistake would listen on a port of its own.)
    let ran = s.wasmjob(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--memory-reservation",
        "1Gi",
    ]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("--memory-reservation: 1Gi of address space leaves each of the pool's 544 linear memories (256 instances)")
            && ran.stderr.contains("give at least 9Gi or fewer instances (--max-instances)"),
        "{}",
        ran.stderr
    );
    let ran = s.wasmjob(&["run", "-f", file, "--memory-reservation", "lots"]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("--memory-reservation: invalid quantity \"lots\""),
        "{}",
        ran.stderr
    );
    let ran = s.wasmjob(&["run", "-f", file, "--memory-reservation", "1Mi"]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(!s.state.path().join("wasmjob.db").exists());
    assert!(!s.state.path().join("token").exists());
}

//! Hostile modules (issue 10): each one contained, the host unharmed, the
//! outcome recorded precisely. The cases pinned elsewhere: an infinite loop
//! and a memory bomb (outcomes.rs), path escapes and foreign env
//! (sandbox.rs), malformed, truncated and oversized modules (bad_input.rs),
//! a component importing what the host lacks (plugins.rs).

use std::time::{Duration, Instant};

use crate::outcomes::only_instance;
use wasmjob_tests::{Server, Session, dist, fixture, items, job_yaml, program};

fn volume(host: &std::path::Path) -> String {
    format!(
        "        volumeMounts:\n        - name: data\n          mountPath: /data\n      \
         volumes:\n      - name: data\n        hostPath:\n          path: {}",
        host.display()
    )
}

#[test]
fn unbounded_recursion_is_trapped_as_a_stack_overflow() {
    let s = Session::new();
    let yaml = job_yaml(
        "deep",
        &fixture("recurse.wat"),
        &[],
        "  backoffLimit: 0",
        "",
    );
    let (code, list) = s.run_json(&yaml);
    assert_eq!(code, 1);
    let status = only_instance(&list);
    assert_eq!(status["reason"], "Trapped", "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("call stack exhausted"),
        "{status}"
    );
}

#[test]
fn a_hundred_mib_of_output_is_capped_and_the_instance_succeeds() {
    let s = Session::new();
    let yaml = job_yaml("flood", &program("print-lots"), &["100"], "", "");
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let log = &s.logs("flood")[0].2;
    assert!(log.len() < (1 << 20) + 200, "kept {} bytes", log.len());
    assert!(
        log.lines()
            .last()
            .unwrap()
            .starts_with("[wasmjob: output truncated at 1048576 bytes;"),
        "the marker ends the log"
    );
}

#[test]
fn tens_of_thousands_of_open_files_stop_at_the_handle_limit() {
    let s = Session::new();
    let host = s.work.path().join("vol");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "x").unwrap();
    let yaml = job_yaml(
        "hoarder",
        &program("open-files"),
        &["/data/f", "50000"],
        "  backoffLimit: 0",
        &volume(&host),
    );
    let (code, list) = s.run_json(&yaml);
    assert_eq!(code, 1);
    let status = only_instance(&list);
    assert_eq!(status["reason"], "Trapped", "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("resource table has no free keys"),
        "{status}"
    );
    // It got as far as the limit (1,024 handles, three of them stdio and one
    // the volume), and no further.
    let log = &s.logs("hoarder")[0].2;
    assert!(log.contains("holding 1000 open files"), "{log}");
    assert!(!log.contains("holding 2000"), "{log}");
    // The host is unharmed: the next Job runs.
    let (code, _) = s.run_json(&job_yaml("after", &dist("pi.wasm"), &["5"], "", ""));
    assert_eq!(code, 0);
}

#[test]
fn a_tight_loop_of_host_calls_is_stopped_by_its_deadline() {
    let s = Session::new();
    let yaml = job_yaml(
        "caller",
        &program("host-calls"),
        &[],
        "  backoffLimit: 0",
        "      activeDeadlineSeconds: 1",
    );
    let started = Instant::now();
    let (code, list) = s.run_json(&yaml);
    assert_eq!(code, 1);
    assert!(started.elapsed() < Duration::from_secs(5));
    let status = only_instance(&list);
    assert_eq!(status["reason"], "DeadlineExceeded", "{status}");
}

/// A listener the guest is told to reach; nothing may arrive.
fn bait() -> (std::net::TcpListener, std::net::UdpSocket, String) {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    // The same port over UDP, for the guest's datagram.
    let udp = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
    tcp.set_nonblocking(true).unwrap();
    udp.set_nonblocking(true).unwrap();
    (tcp, udp, format!("127.0.0.1:{port}"))
}

fn assert_nothing_arrived(tcp: &std::net::TcpListener, udp: &std::net::UdpSocket) {
    assert!(tcp.accept().is_err(), "a TCP connection got through");
    let mut buf = [0u8; 16];
    assert!(udp.recv(&mut buf).is_err(), "a datagram got through");
}

#[test]
fn no_network_for_modules_or_components() {
    let s = Session::new();
    for image in [
        program("connect"),
        dist("test-programs/connect.component.wasm"),
    ] {
        let (tcp, udp, address) = bait();
        let yaml = job_yaml("net", &image, &[&address], "  backoffLimit: 0", "");
        let path = s.write("job.yaml", &yaml);
        let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap(), "--quiet"]);
        let log = &s.logs("net")[0].2;
        assert_eq!(
            ran.code,
            0,
            "{}: every attempt refused:\n{log}",
            image.display()
        );
        for attempt in ["tcp connect", "udp send", "lookup localhost"] {
            assert!(log.contains(attempt) && !log.contains("CONNECTED"), "{log}");
        }
        assert_nothing_arrived(&tcp, &udp);
        s.wasmjob(&["delete", "job", "net"]);
    }
}

#[test]
fn a_module_that_never_exits_stops_within_a_second_of_its_job_being_deleted() {
    let s = Session::new();
    let server = Server::start(&s, &[]);
    let yaml = job_yaml("forever", &fixture("spin.wat"), &[], "", "");
    s.write("forever.yaml", &yaml);
    let ran = s.client(&server, &["apply", "-f", "forever.yaml"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let running = || {
        let ran = s.client(&server, &["get", "instances", "-o", "json"]);
        items(&ran.json(), "Instance")
            .iter()
            .filter(|i| i["status"]["phase"] == "Running")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while running() == 0 {
        assert!(Instant::now() < deadline, "the instance never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let it spin a while: it must not matter how long it has run.
    std::thread::sleep(Duration::from_millis(300));
    let deleted_at = Instant::now();
    let ran = s.client(&server, &["delete", "job", "forever"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    // The store says Deleted at once; that the guest really stopped shows in
    // the server's CPU time, which a spinning guest grows by a second a
    // second: from one second after the delete it must stand (nearly) still.
    std::thread::sleep(Duration::from_secs(1).saturating_sub(deleted_at.elapsed()));
    let before = cpu_seconds(server.pid());
    std::thread::sleep(Duration::from_millis(500));
    let spent = cpu_seconds(server.pid()) - before;
    assert!(
        spent < 0.15,
        "the server used {spent:.2} s of CPU in the 0.5 s from 1 s after the delete"
    );
    let reason: String = s
        .db()
        .query_row("SELECT reason FROM instances", [], |r| r.get(0))
        .unwrap();
    assert_eq!(reason, "Deleted");
    assert_eq!(server.terminate(), 0);
}

/// User plus system CPU time of a process, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // Linux reports in USER_HZ, 100 on every architecture wasmjob runs on.
    ticks / 100.0
}

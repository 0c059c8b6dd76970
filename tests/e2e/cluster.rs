//! Clusters on PostgreSQL (issue 6): three `wasmjob serve --store
//! postgres://…` processes on this machine, each with its own state
//! directory, name, labels and port, sharing a fresh database per test.
//! DaemonSets by node label and relabelling, a node killed with SIGKILL or
//! paused with SIGSTOP past the grace period, a CronJob firing once per
//! second cluster-wide, a Job's parallelism cap, and the crash-loop
//! back-off, all through the real binary.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmjob_tests::{
    PgDatabase, REDIS_URL, Server, Session, job_yaml, program, redis_int, redis_rpush, service,
    unique,
};

use super::daemonsets::{apply, daemonset, eventually, get_json, instances};
use super::queues::{EIGHT, NINE, once_each, push, queue_job};

/// Heartbeat and grace short enough for a test to see a node lost: for the
/// tests that kill or pause a node.
const LOSES_NODES: &[&str] = &["--heartbeat", "200ms", "--node-grace", "3s"];

/// Every other test's: a loaded machine can stall a node for seconds, which
/// must not be taken for a lost node in a test about something else (a
/// rolling update failed so in CI when a node's instance was ended
/// `NodeLost` under it).
const STEADY: &[&str] = &["--heartbeat", "200ms", "--node-grace", "20s"];

/// One node of a test cluster.
pub(super) struct Node {
    pub(super) name: String,
    pub(super) session: Session,
    pub(super) server: Server,
}

/// Starts nodes `names[i]` with `labels[i]` (`k=v,…`) on `db`, one after
/// the other (the first one's token becomes the cluster's), with a
/// [`STEADY`] grace unless `extra` sets one.
pub(super) fn cluster(db: &PgDatabase, nodes: &[(&str, &str)], extra: &[&str]) -> Vec<Node> {
    nodes
        .iter()
        .map(|(name, labels)| {
            let session = Session::new();
            let mut args = vec!["--store", db.url.as_str(), "--node-name", name];
            if !extra.contains(&"--node-grace") {
                args.extend_from_slice(STEADY);
            }
            if !labels.is_empty() {
                args.extend(["--labels", labels]);
            }
            args.extend_from_slice(extra);
            let server = Server::start(&session, &args);
            Node {
                name: (*name).to_owned(),
                session,
                server,
            }
        })
        .collect()
}

/// The nodes the live instances of `selector` run on, sorted.
fn instance_nodes(list: &Value) -> Vec<String> {
    let mut nodes: Vec<String> = instances(list)
        .iter()
        .filter(|i| i["status"]["phase"] == "Running")
        .map(|i| i["status"]["nodeName"].as_str().unwrap_or("").to_owned())
        .collect();
    nodes.sort();
    nodes
}

#[test]
fn a_daemonset_follows_node_labels_relabelling_and_a_killed_node() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let mut nodes = cluster(
        &db,
        &[("n1", "disk=nvme"), ("n2", "disk=nvme"), ("n3", "disk=hdd")],
        LOSES_NODES,
    );
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    // Every node is in `get nodes`, Ready, from any node's API.
    let table = s.client(&nodes[2].server, &["get", "nodes"]);
    assert_eq!(table.code, 0, "{table:?}");
    for name in ["n1", "n2", "n3"] {
        let line = table.stdout.lines().find(|l| l.starts_with(name)).unwrap();
        assert!(line.contains(" Ready "), "{table:?}");
    }
    let pod_extra = "      nodeSelector:\n        disk: nvme\n";
    let yaml = daemonset("agent", "sleep-ms", &["600000"], pod_extra);
    apply(s, first, "ds.yaml", &yaml);
    let label = ["instances", "-l", "app=agent"];
    eventually(s, first, &label, "instances on n1 and n2", |l| {
        instance_nodes(l) == ["n1", "n2"]
    });
    // The status counts the whole cluster, whichever node is asked.
    let ds = eventually(s, &nodes[1].server, &["ds", "agent"], "status", |d| {
        d["status"]["desiredNumberScheduled"] == 2 && d["status"]["numberReady"] == 2
    });
    assert_eq!(ds["status"]["currentNumberScheduled"], 2, "{ds}");

    // Relabelled through n1's API, n3 gains its instance.
    let ran = s.client(first, &["label", "node", "n3", "disk=nvme", "--overwrite"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    eventually(s, first, &label, "an instance on n3 too", |l| {
        instance_nodes(l) == ["n1", "n2", "n3"]
    });

    // n2 dies: after the grace period it is NotReady and its instance gone.
    let killed = nodes.remove(1);
    killed.server.crash();
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    let killed_at = Instant::now();
    eventually(s, first, &label, "n2's instance removed", |l| {
        instance_nodes(l) == ["n1", "n3"]
    });
    // Not before the grace period: a slow heartbeat is not a lost node.
    assert!(
        killed_at.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        killed_at.elapsed()
    );

    let table = s.client(first, &["get", "nodes"]);
    let line = table.stdout.lines().find(|l| l.starts_with("n2")).unwrap();
    assert!(line.contains("NotReady"), "{table:?}");
    let ds = eventually(s, first, &["ds", "agent"], "status after the loss", |d| {
        d["status"]["desiredNumberScheduled"] == 2
    });
    assert_eq!(ds["status"]["numberReady"], 2, "{ds}");
    // n2's instance ends `NodeLost` in the database (the listing above
    // already leaves out a NotReady node's daemon instances; the survivors
    // end it at their next pass), and none of its instances runs. (On a
    // loaded machine n2 may have stalled past the grace once before it was
    // killed: its instance then ended `NodeLost` and it started a new one,
    // which ends so too.)
    let mut client = db.client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n2: Vec<(String, Option<String>)> = client
            .query(
                "SELECT phase, reason FROM instances WHERE node_name = 'n2'",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let lost = n2.iter().any(|r| r.1.as_deref() == Some("NodeLost"));
        if lost && n2.iter().all(|r| r.0 != "Running") {
            break;
        }
        assert!(Instant::now() < deadline, "{n2:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A node that was only silent (paused past the grace period, as a stall
/// or a slow disk makes it) comes back: the cluster had ended its daemon
/// instance, so it stops that one and starts a new one, and the status
/// counts it again. Before, it kept running an instance the store recorded
/// as ended, and the DaemonSet stayed one instance short.
#[test]
fn a_node_silent_past_the_grace_period_gets_a_new_daemon_instance_when_it_returns() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(&db, &[("n1", ""), ("n2", "")], LOSES_NODES);
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    apply(
        s,
        first,
        "ds.yaml",
        &daemonset("agent", "sleep-ms", &["600000"], ""),
    );
    let label = ["instances", "-l", "app=agent"];
    let before = eventually(s, first, &label, "an instance on each node", |l| {
        instance_nodes(l) == ["n1", "n2"]
    });
    let on_n2 = |list: &Value| -> String {
        instances(list)
            .iter()
            .find(|i| i["status"]["nodeName"] == "n2")
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let old = on_n2(&before);

    let signal = |sig: &str| {
        let ran = std::process::Command::new("kill")
            .args([sig, &nodes[1].server.pid().to_string()])
            .status()
            .unwrap();
        assert!(ran.success(), "kill {sig}");
    };
    signal("-STOP");
    // The node is let go again even when the check fails. While n2 is
    // silent its instance shows as Unknown; then it is removed.
    let removed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually(
            s,
            first,
            &label,
            "n2's instance removed while n2 is silent",
            |l| {
                instance_nodes(l) == ["n1"]
                    && instances(l).iter().all(|i| i["status"]["nodeName"] != "n2")
            },
        )
    }));
    signal("-CONT");
    if let Err(panic) = removed {
        std::panic::resume_unwind(panic);
    }

    let after = eventually(s, first, &label, "a new instance on n2", |l| {
        instance_nodes(l) == ["n1", "n2"] && on_n2(l) != old
    });
    assert_ne!(on_n2(&after), old);
    eventually(
        s,
        first,
        &["ds", "agent"],
        "the status counts n2 again",
        |d| d["status"]["currentNumberScheduled"] == 2 && d["status"]["numberReady"] == 2,
    );
    // The old instance stays ended: nothing n2 had staged for it brought
    // its row back to Running.
    let row = db
        .client()
        .query_one(
            "SELECT phase, reason, finish_time IS NOT NULL, deleted_at IS NOT NULL
             FROM instances WHERE name = $1",
            &[&old],
        )
        .unwrap();
    let (phase, reason): (String, String) = (row.get(0), row.get(1));
    assert_eq!((phase.as_str(), reason.as_str()), ("Failed", "NodeLost"));
    assert!(row.get::<_, bool>(2) && row.get::<_, bool>(3));
    let log = nodes[1].session.serve_log();
    assert!(
        log.contains("ended this node's daemon instance"),
        "n2 says why it replaced its instance: {log}"
    );
}

/// Every instance row of the Job `name`: (phase, reason, node).
pub(super) fn job_rows(db: &PgDatabase, name: &str) -> Vec<(String, String, String)> {
    db.client()
        .query(
            "SELECT phase, coalesce(reason, ''), node_name FROM instances i
             JOIN objects o ON o.uid = i.owner_uid WHERE o.name = $1 AND o.kind = 'Job'",
            &[&name],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// The Job's instances, with one node killed while they ran: exactly the
/// completions succeeded, what ran on the killed node (and only that) was
/// recorded as `NodeLost` and counted as failed, nothing runs any more, and
/// `logs` through a node that did not run them shows every success.
fn assert_exact_after_a_kill(
    db: &PgDatabase,
    s: &Session,
    reader: &Server,
    killed: &str,
    running_there: usize,
) -> Vec<(String, String, String)> {
    let job = s.wait_finished(reader, "survivor");
    let rows = job_rows(db, "survivor");
    let count =
        |f: &dyn Fn(&(String, String, String)) -> bool| rows.iter().filter(|r| f(r)).count();
    assert_eq!(count(&|r| r.0 == "Succeeded"), 8, "{rows:?}");
    let lost: Vec<&String> = rows
        .iter()
        .filter(|r| r.1 == "NodeLost")
        .map(|r| &r.2)
        .collect();
    assert!(lost.iter().all(|n| *n == killed), "{rows:?}");
    assert_eq!(lost.len(), running_there, "{rows:?}");
    assert_eq!(job["status"]["succeeded"], 8, "{job}");
    assert_eq!(job["status"]["failed"], lost.len(), "{job}");
    assert_eq!(
        count(&|r| r.0 == "Running" || r.0 == "Pending"),
        0,
        "{rows:?}"
    );
    let logs = s.client(reader, &["logs", "job/survivor"]);
    assert_eq!(logs.code, 0, "{logs:?}");
    assert_eq!(logs.stdout.matches("slept 1500 ms").count(), 8, "{logs:?}");
    rows
}

// Each node runs one instance at a time, so the Job's three run on three
// nodes and a killed node is always running one.
const ONE_AT_A_TIME: &[&str] = &["--max-instances", "1"];

/// Three nodes running the Job `survivor` (8 completions of 1.5 s, 3 at a
/// time) applied through n1, once each runs one of its instances; the
/// instances as listed then.
fn survivor_on_three_nodes(db: &PgDatabase) -> (Vec<Node>, Value) {
    let extra = [ONE_AT_A_TIME, LOSES_NODES].concat();
    let nodes = cluster(db, &[("n1", ""), ("n2", ""), ("n3", "")], &extra);
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    let yaml = job_yaml(
        "survivor",
        &program("sleep-ms"),
        &["1500"],
        "  completions: 8\n  parallelism: 3\n  backoffLimit: 6",
        "",
    );
    apply(s, first, "job.yaml", &yaml);
    let label = ["instances", "-l", "job-name=survivor"];
    let running = eventually(s, first, &label, "one running on each node", |l| {
        instance_nodes(l) == ["n1", "n2", "n3"]
    });
    (nodes, running)
}

#[test]
fn a_killed_nodes_job_instances_are_lost_and_replaced_with_exact_counts() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    // Applied through n1, which owns the Job; its instances spread.
    let (mut nodes, _) = survivor_on_three_nodes(&db);
    // n2 runs one of n1's instances and dies: n1 records it lost and
    // offers a replacement, which n1 or n3 runs.
    nodes.remove(1).server.crash();
    let rows = assert_exact_after_a_kill(&db, &nodes[0].session, &nodes[1].server, "n2", 1);
    let elsewhere = rows
        .iter()
        .filter(|r| r.0 == "Succeeded" && r.2 != "n1")
        .count();
    assert!(elsewhere > 0, "{rows:?}");
}

#[test]
fn a_killed_owners_job_is_taken_over_and_its_instances_elsewhere_carry_on() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let (mut nodes, running) = survivor_on_three_nodes(&db);
    let survivors: Vec<String> = instances(&running)
        .iter()
        .filter(|i| i["status"]["nodeName"] != "n1")
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    // The owner dies. Another node takes the Job over: what n1 ran is lost,
    // what n2 and n3 run goes on and is counted once.
    nodes.remove(0).server.crash();
    assert_exact_after_a_kill(&db, &nodes[0].session, &nodes[1].server, "n1", 1);
    let owner: Option<String> = db
        .client()
        .query_one(
            "SELECT owner_node FROM objects WHERE name = 'survivor'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(matches!(owner.as_deref(), Some("n2" | "n3")), "{owner:?}");
    let mut client = db.client();
    for name in survivors {
        let phase: String = client
            .query_one("SELECT phase FROM instances WHERE name = $1", &[&name])
            .unwrap()
            .get(0);
        assert_eq!(
            phase, "Succeeded",
            "{name} was running on a node that stayed"
        );
    }
}

/// Three nodes running `chained` (240 completions of 30 ms, 6 at a time,
/// applied through n1): chains of 20 (240 over 6 chains and 2 rounds),
/// each going on on the node that claimed it. Once a chain has gone on past
/// its first link on a node other than n1, node `killed` is killed; the Job
/// then ends with exactly 240 successes read through `reader`, each counted
/// once, what `killed` ran when it died (and only that) lost, nothing left
/// running.
fn kill_mid_chain(killed: usize, reader: usize) {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let mut nodes = cluster(&db, &[("n1", ""), ("n2", ""), ("n3", "")], LOSES_NODES);
    // n2 and n3 compile the module first (a Job pinned to each): on a
    // loaded machine a node still compiling it when the chains are offered
    // leaves them all to n1.
    for node in ["n2", "n3"] {
        let name = format!("warm-{node}");
        let pod = format!("      nodeSelector:\n        kubernetes.io/hostname: {node}\n");
        let warm = job_yaml(&name, &program("sleep-ms"), &["1"], "", &pod);
        apply(&nodes[0].session, &nodes[0].server, "warm.yaml", &warm);
        nodes[0].session.wait_finished(&nodes[0].server, &name);
    }
    let yaml = job_yaml(
        "chained",
        &program("sleep-ms"),
        &["30"],
        "  completions: 240\n  parallelism: 6\n  backoffLimit: 20",
        "",
    );
    apply(&nodes[0].session, &nodes[0].server, "job.yaml", &yaml);
    let mut client = db.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let links: i64 = client
            .query_one(
                "SELECT count(*) FROM instances WHERE chain_head <> uid AND node_name <> 'n1'",
                &[],
            )
            .unwrap()
            .get(0);
        if links >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no chain went on past its first link"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let name = nodes[killed].name.clone();
    nodes.remove(killed).server.crash();
    let reader = &nodes[reader];
    let job = reader.session.wait_finished(&reader.server, "chained");
    // The owner's decisions reach the database with its next batches.
    let failed = job["status"]["failed"].as_u64().unwrap_or(0) as usize;
    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = job_rows(&db, "chained");
        let settled = rows.iter().filter(|r| r.1 == "NodeLost").count() == failed
            && !rows.iter().any(|r| r.0 == "Running" || r.0 == "Pending");
        if settled || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let count =
        |f: &dyn Fn(&(String, String, String)) -> bool| rows.iter().filter(|r| f(r)).count();
    assert_eq!(count(&|r| r.0 == "Succeeded"), 240, "{rows:?}");
    assert_eq!(job["status"]["succeeded"], 240, "{job}");
    let lost = count(&|r| r.1 == "NodeLost");
    eprintln!("{lost} lost on {name}");
    assert_eq!(
        count(&|r| r.1 == "NodeLost" && r.2 == name),
        lost,
        "{rows:?}"
    );
    assert_eq!(job["status"]["failed"], lost, "{job}");
    assert_eq!(count(&|r| r.0 == "Failed"), lost, "{rows:?}");
    assert_eq!(
        count(&|r| r.0 == "Running" || r.0 == "Pending"),
        0,
        "{rows:?}"
    );
}

#[test]
fn a_node_killed_in_the_middle_of_chains_leaves_exact_counts() {
    kill_mid_chain(1, 0);
}

#[test]
fn an_owner_killed_in_the_middle_of_chains_leaves_exact_counts_with_the_next_owner() {
    kill_mid_chain(0, 0);
}

#[test]
fn a_jobs_instances_spread_over_the_nodes_its_selector_matches() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(
        &db,
        &[("n1", "disk=nvme"), ("n2", "disk=nvme"), ("n3", "disk=hdd")],
        &[],
    );
    // Applied through n3, which does not match: it owns the Job and its
    // instances go to n1 and n2.
    let (s, third) = (&nodes[2].session, &nodes[2].server);
    let yaml = job_yaml(
        "nvme-only",
        &program("sleep-ms"),
        &["200"],
        "  completions: 12\n  parallelism: 4",
        "      nodeSelector:\n        disk: nvme\n",
    );
    apply(s, third, "job.yaml", &yaml);
    let job = s.wait_finished(third, "nvme-only");
    assert_eq!(job["status"]["succeeded"], 12, "{job}");
    let rows = job_rows(&db, "nvme-only");
    let on = |node: &str| rows.iter().filter(|r| r.2 == node).count();
    assert_eq!(rows.len(), 12, "{rows:?}");
    assert_eq!(on("n3"), 0, "{rows:?}");
    assert!(on("n1") > 0 && on("n2") > 0, "{rows:?}");
}

#[test]
fn an_instance_restarted_in_place_restarts_on_the_node_that_ran_it() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(&db, &[("n1", ""), ("n2", "gpu=yes")], &[]);
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    let yaml = job_yaml(
        "flaky",
        &program("exit-code"),
        &["3"],
        "  backoffLimit: 2",
        "      nodeSelector:\n        gpu: \"yes\"\n",
    )
    .replace("restartPolicy: Never", "restartPolicy: OnFailure");
    apply(s, first, "job.yaml", &yaml);
    let job = s.wait_finished(first, "flaky");
    let failed = &job["status"]["conditions"][1];
    assert_eq!(failed["reason"], "BackoffLimitExceeded", "{job}");
    assert_eq!(job["status"]["failed"], 3, "{job}");
    // One instance, restarted twice on n2, every attempt's log kept.
    let list = get_json(s, first, &["instances", "-l", "job-name=flaky"]);
    let list = instances(&list);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["status"]["nodeName"], "n2", "{list:?}");
    assert_eq!(list[0]["status"]["restartCount"], 2, "{list:?}");
    let attempts: i64 = db
        .client()
        .query_one("SELECT count(*) FROM logs", &[])
        .unwrap()
        .get(0);
    assert_eq!(attempts, 3);
}

#[test]
fn a_store_that_is_not_postgresql_or_does_not_answer_is_refused_in_one_message() {
    let s = Session::new();
    let serve = |store: &str, extra: &[&str]| {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--store", store];
        args.extend_from_slice(extra);
        s.wasmjob(&args)
    };
    let ran = serve("mysql://root@127.0.0.1/test", &[]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains("--store \"mysql://root@127.0.0.1/test\": give a postgres://"),
        "{ran:?}"
    );
    let ran = serve(
        "postgres://u@127.0.0.1/t",
        &["--heartbeat", "5s", "--node-grace", "2s"],
    );
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("--node-grace (2s) must be longer"),
        "{ran:?}"
    );
    // Nothing listens on port 1: the message names the database, hides the
    // password, and the node does not start.
    let ran = serve("postgres://wasmjob:secret@127.0.0.1:1/cluster", &[]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr
            .contains("cluster database postgres://wasmjob:***@127.0.0.1:1/cluster"),
        "{ran:?}"
    );
    assert!(!ran.stderr.contains("secret"), "{ran:?}");
    assert_eq!(ran.stderr.trim().lines().count(), 1, "{ran:?}");
}

#[test]
fn a_cronjob_on_three_nodes_fires_exactly_once_per_second() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(&db, &[("n1", ""), ("n2", ""), ("n3", "")], &[]);
    let (s, second) = (&nodes[1].session, &nodes[1].server);
    let yaml = wasmjob_tests::per_second_cronjob("tick", "default", "say-hello", 100);
    apply(s, second, "cron.yaml", &yaml);
    std::thread::sleep(Duration::from_secs(11));
    let ran = s.client(second, &["delete", "cronjob", "tick"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let mut client = db.client();
    // Every Job row ever created (live or deleted) and its instances. A
    // node sends its records in batches: the last Job's instance may reach
    // the database a moment after the Job.
    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = client
            .query(
                "SELECT o.name, count(i.uid) FROM objects o LEFT JOIN instances i ON i.owner_uid = o.uid
                 WHERE o.kind = 'Job' GROUP BY o.uid, o.name ORDER BY o.name",
                &[],
            )
            .unwrap();
        if Instant::now() > deadline || rows.iter().all(|r| r.get::<_, i64>(1) > 0) {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let distinct: BTreeSet<&String> = names.iter().collect();
    assert_eq!(distinct.len(), names.len(), "a time fired twice: {names:?}");
    assert!(names.len() >= 10, "{names:?}");
    for r in &rows {
        assert_eq!(r.get::<_, i64>(1), 1, "one instance per Job: {names:?}");
    }
    // One decided time per second, no gap, each started as one Job.
    let runs: Vec<(i64, Option<String>)> = client
        .query(
            "SELECT scheduled_time, job_uid FROM cron_runs ORDER BY scheduled_time",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for pair in runs.windows(2) {
        assert_eq!(pair[1].0 - pair[0].0, 1_000_000, "{runs:?}");
    }
    assert!(runs.iter().all(|(_, job)| job.is_some()), "{runs:?}");
    assert_eq!(runs.len(), names.len());
}

#[test]
fn a_job_never_runs_more_than_parallelism_across_the_cluster() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(&db, &[("n1", ""), ("n2", ""), ("n3", "")], &[]);
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    let yaml = job_yaml(
        "wide",
        &program("sleep-ms"),
        &["20"],
        "  completions: 300\n  parallelism: 6",
        "",
    );
    apply(s, first, "job.yaml", &yaml);
    // Watch the database itself, every few milliseconds, for running
    // instances of the Job on any node.
    let mut client = db.client();
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE i.phase = 'Running'),
                        count(*) FILTER (WHERE i.phase = 'Succeeded'),
                        bool_or(o.finished)
                 FROM objects o LEFT JOIN instances i ON i.owner_uid = o.uid
                 WHERE o.name = 'wide'",
                &[],
            )
            .unwrap();
        let running: i64 = row.get(0);
        most = most.max(running);
        if row.get::<_, Option<bool>>(2) == Some(true) {
            assert_eq!(row.get::<_, i64>(1), 300);
            break;
        }
        assert!(Instant::now() < deadline, "not finished");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(most <= 6, "{most} running at once");
    assert!(most >= 2, "parallelism was used: {most}");
    // One Job's instances ran on more than one node.
    let rows = job_rows(&db, "wide");
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &rows {
        *per_node.entry(row.2.as_str()).or_default() += 1;
    }
    eprintln!("instances per node: {per_node:?}");
    assert!(per_node.len() >= 2, "{per_node:?}");
    let job = get_json(s, &nodes[2].server, &["job", "wide"]);
    assert_eq!(job["status"]["succeeded"], 300, "{job}");
    assert_eq!(job["status"]["failed"], 0, "{job}");
}

#[test]
fn a_rolling_update_replaces_one_node_at_a_time_across_the_cluster() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(&db, &[("n1", ""), ("n2", ""), ("n3", "")], &[]);
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    // An instance is available once it has run for a second.
    let agent = |millis: &str| {
        daemonset("agent", "sleep-ms", &[millis], "").replace(
            "spec:\n  selector:",
            "spec:\n  minReadySeconds: 1\n  selector:",
        )
    };
    apply(s, first, "ds.yaml", &agent("600000"));
    eventually(s, first, &["ds", "agent"], "available on every node", |d| {
        d["status"]["numberAvailable"] == 3
    });
    // A new template (maxUnavailable 1 by default): watch the database
    // for nodes with an available instance while the update rolls.
    apply(s, first, "ds.yaml", &agent("600001"));
    let mut client = db.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut fewest = 3;
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        let rows = client
            .query(
                "SELECT node_name, labels, start_time <= $1 FROM instances
                 WHERE phase = 'Running' AND finish_time IS NULL AND deleted_at IS NULL
                   AND coalesce(reason, '') <> 'CrashLoopBackOff'",
                &[&(now - 1_000_000)],
            )
            .unwrap();
        let available: BTreeSet<String> = rows
            .iter()
            .filter(|r| r.get::<_, bool>(2))
            .map(|r| r.get(0))
            .collect();
        fewest = fewest.min(available.len());
        let replaced: i64 = client
            .query_one(
                "SELECT count(*) FROM instances WHERE reason = 'Deleted'",
                &[],
            )
            .unwrap()
            .get(0);
        if replaced == 3 && available.len() == 3 && rows.len() == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the update never finished: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Never more than one node without an available daemon: maxUnavailable
    // counts the cluster, not each node.
    assert_eq!(
        fewest, 2,
        "nodes with an available instance fell to {fewest}"
    );
    // Any node's API counts the whole cluster.
    eventually(
        s,
        &nodes[2].server,
        &["ds", "agent"],
        "every node updated",
        |d| d["status"]["updatedNumberScheduled"] == 3 && d["status"]["numberAvailable"] == 3,
    );
}

#[test]
fn a_crash_looping_daemon_backs_off_on_every_node() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let extra = ["--crash-loop-initial", "200ms", "--crash-loop-max", "800ms"];
    let nodes = cluster(&db, &[("n1", ""), ("n2", "")], &extra);
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    apply(
        s,
        first,
        "ds.yaml",
        &daemonset("crashy", "exit-code", &["3"], ""),
    );
    eventually(
        s,
        first,
        &["instances", "-l", "app=crashy"],
        "four restarts each",
        |l| {
            let list = instances(l);
            list.len() == 2
                && list
                    .iter()
                    .all(|i| i["status"]["restartCount"].as_u64() >= Some(4))
        },
    );
    // Each node's back-off events, in order: 200 ms doubling to 800 ms.
    let mut client = db.client();
    let rows = client
        .query(
            "SELECT i.node_name, e.message FROM events e
             JOIN instances i ON e.message LIKE '%' || i.name
             WHERE e.reason = 'BackOff' ORDER BY e.id",
            &[],
        )
        .unwrap();
    let mut delays: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &rows {
        let message: &str = r.get(1);
        let delay = message.split_whitespace().nth(1).unwrap().to_owned();
        delays.entry(r.get(0)).or_default().push(delay);
    }
    for node in &nodes {
        let seen = &delays[&node.name];
        assert!(seen.len() >= 4, "{delays:?}");
        assert_eq!(
            seen[..4],
            ["200ms", "400ms", "800ms", "800ms"],
            "{delays:?}"
        );
    }
}

/// Lines `<prefix><item>` in the logs of the Job `job`, counted per item,
/// and the nodes that wrote them.
fn processed_on(
    db: &PgDatabase,
    job: &str,
    prefix: &str,
) -> (BTreeMap<String, usize>, BTreeSet<String>) {
    let rows = db
        .client()
        .query(
            "SELECT i.node_name, l.data FROM logs l JOIN instances i ON i.uid = l.instance_uid
             JOIN objects o ON o.uid = i.owner_uid WHERE o.name = $1",
            &[&job],
        )
        .unwrap();
    let (mut seen, mut nodes) = (BTreeMap::new(), BTreeSet::new());
    for row in &rows {
        let text = String::from_utf8_lossy(row.get::<_, &[u8]>(1)).into_owned();
        for item in text.lines().filter_map(|l| l.strip_prefix(prefix)) {
            *seen.entry(item.to_owned()).or_default() += 1;
            nodes.insert(row.get::<_, String>(0));
        }
    }
    (seen, nodes)
}

#[test]
fn a_stdin_queue_jobs_items_go_with_its_instances_to_every_node() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(&db, &[("n1", ""), ("n2", ""), ("n3", "")], ONE_AT_A_TIME);
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    // The embedded queue is n1's own file; n1 owns the Job, leases each
    // item and offers it with its instance.
    push(s, "fruit", &EIGHT);
    let yaml = queue_job(
        "coarse",
        "wq-coarse.wasm",
        &["--work-ms", "100"],
        "  completions: 8\n  parallelism: 3",
        "    name: fruit",
    );
    apply(s, first, "job.yaml", &yaml);
    let job = s.wait_finished(first, "coarse");
    assert_eq!(job["status"]["succeeded"], 8, "{job}");
    let (seen, ran_on) = processed_on(&db, "coarse", "Processing ");
    assert_eq!(seen, once_each(&EIGHT));
    assert!(ran_on.len() >= 2, "{ran_on:?}");
    let stats = s.wasmjob(&["queue", "stats", "fruit", "-o", "json"]).json();
    assert_eq!(
        (stats["waiting"].as_u64(), stats["leased"].as_u64()),
        (Some(0), Some(0)),
        "{stats}"
    );
}

#[test]
fn fine_workers_on_every_node_drain_a_redis_queue() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    if !service("Redis", "127.0.0.1:6379") {
        return;
    }
    let nodes = cluster(&db, &[("n1", ""), ("n2", ""), ("n3", "")], ONE_AT_A_TIME);
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    let list = unique("cluster-fine");
    // Nine items of 400 ms for three workers: a worker that starts a
    // second late on a loaded machine still finds items left.
    redis_rpush(&list, &NINE);
    let yaml = queue_job(
        "fine",
        "wq-fine.wasm",
        &["--lease", "10", "--work-ms", "400"],
        "  parallelism: 3",
        &format!("    url: {REDIS_URL}\n    name: {list}\n    mode: lease"),
    );
    apply(s, first, "job.yaml", &yaml);
    let job = s.wait_finished(first, "fine");
    assert_eq!(job["status"]["conditions"][1]["type"], "Complete", "{job}");
    // Each node's worker leased through its own connection to Redis.
    let (seen, ran_on) = processed_on(&db, "fine", "Working on ");
    assert_eq!(seen, once_each(&NINE));
    assert_eq!(ran_on.len(), 3, "{ran_on:?}");
    assert_eq!(redis_int(&["LLEN", &list]), 0);
    assert_eq!(redis_int(&["LLEN", &format!("{list}:processing")]), 0);
}

#[test]
fn configs_applied_through_one_node_reach_instances_on_another_sealed_with_the_clusters_key() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(&db, &[("n1", ""), ("n2", "gpu=yes")], &[]);
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    let out = s.work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let secret = "cluster-s3cret-91";
    let yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: token}}\nstringData: {{value: {secret}}}\n\
         ---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: mode}}\ndata: {{mode: edge}}\n---\n{}",
        job_yaml(
            "on-gpu",
            &program("write-file"),
            &["/out/seen.txt", "$(TOKEN)/$(MODE)"],
            "  backoffLimit: 0",
            &format!(
                "        env:\n        - {{name: TOKEN, valueFrom: {{secretKeyRef: {{name: token, key: value}}}}}}\n        \
                 - {{name: MODE, valueFrom: {{configMapKeyRef: {{name: mode, key: mode}}}}}}\n        \
                 volumeMounts:\n        - {{name: out, mountPath: /out}}\n      \
                 volumes:\n      - {{name: out, hostPath: {{path: {}}}}}\n      \
                 nodeSelector:\n        gpu: \"yes\"\n",
                out.display()
            ),
        )
    );
    apply(s, first, "app.yaml", &yaml);
    let job = s.wait_finished(first, "on-gpu");
    assert_eq!(job["status"]["succeeded"], 1, "{job}");
    let rows = job_rows(&db, "on-gpu");
    assert_eq!(rows[0].2, "n2", "{rows:?}");
    assert_eq!(
        std::fs::read_to_string(out.join("seen.txt")).unwrap(),
        format!("{secret}/edge")
    );
    // One key for the cluster, and the cluster's database holds the
    // Secret sealed with it.
    let key =
        |n: &Node| std::fs::read_to_string(n.session.state.path().join("secret.key")).unwrap();
    assert_eq!(key(&nodes[0]), key(&nodes[1]));
    let manifests: Vec<String> = db
        .client()
        .query("SELECT manifest FROM objects WHERE kind = 'Secret'", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(manifests.len(), 1);
    assert!(manifests[0].contains("sealedData") && !manifests[0].contains(secret));
    // Read through the other node, as kubectl shows it.
    let shown = get_json(&nodes[1].session, &nodes[1].server, &["secret", "token"]);
    assert_eq!(
        shown["data"]["value"], "Y2x1c3Rlci1zM2NyZXQtOTE=",
        "{shown}"
    );
}

#[test]
fn a_node_tainted_through_another_takes_no_work_that_does_not_tolerate_it() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(&db, &[("n1", ""), ("n2", "")], &[]);
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    let tainted = s.client(
        first,
        &["taint", "node", "n2", "dedicated=batch:NoSchedule"],
    );
    assert_eq!(tainted.code, 0, "{tainted:?}");
    let shown = get_json(s, first, &["nodes", "n2"]);
    assert_eq!(shown["spec"]["taints"][0]["value"], "batch", "{shown}");
    // n2 takes the taint at its next heartbeat.
    std::thread::sleep(Duration::from_millis(1000));
    let plain = job_yaml(
        "plain",
        &program("sleep-ms"),
        &["50"],
        "  completions: 8\n  parallelism: 4",
        "",
    );
    let (s2, second) = (&nodes[1].session, &nodes[1].server);
    apply(s2, second, "plain.yaml", &plain);
    let job = s2.wait_finished(second, "plain");
    assert_eq!(job["status"]["succeeded"], 8, "{job}");
    let rows = job_rows(&db, "plain");
    assert!(rows.iter().all(|r| r.2 == "n1"), "{rows:?}");
    // Work that tolerates it runs there too.
    let tolerating = job_yaml(
        "tolerating",
        &program("sleep-ms"),
        &["50"],
        "  completions: 8\n  parallelism: 4",
        "      tolerations:\n      - {key: dedicated, operator: Exists}\n      nodeSelector:\n        kubernetes.io/hostname: n2\n",
    );
    apply(s, first, "tolerating.yaml", &tolerating);
    let job = s.wait_finished(first, "tolerating");
    assert_eq!(job["status"]["succeeded"], 8, "{job}");
    let rows = job_rows(&db, "tolerating");
    assert!(rows.iter().all(|r| r.2 == "n2"), "{rows:?}");
}

#[test]
fn a_prefer_no_schedule_node_leaves_work_to_the_others_while_they_can_take_it() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = [
        cluster(
            &db,
            &[("n1", "")],
            &["--taints", "soft=yes:PreferNoSchedule"],
        ),
        cluster(&db, &[("n2", "")], &[]),
    ];
    let (s, first) = (&nodes[0][0].session, &nodes[0][0].server);
    // Both nodes' heartbeats seen.
    std::thread::sleep(Duration::from_millis(800));
    let yaml = job_yaml(
        "spread",
        &program("sleep-ms"),
        &["50"],
        "  completions: 8\n  parallelism: 4",
        "",
    );
    apply(s, first, "job.yaml", &yaml);
    let job = s.wait_finished(first, "spread");
    assert_eq!(job["status"]["succeeded"], 8, "{job}");
    let rows = job_rows(&db, "spread");
    assert!(rows.iter().all(|r| r.2 == "n2"), "{rows:?}");
}

#[test]
fn a_no_execute_taint_ends_what_a_node_runs_for_another_nodes_job() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(&db, &[("n1", ""), ("n2", "pool=b")], &[]);
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    let yaml = job_yaml(
        "hosted",
        &program("sleep-ms"),
        &["3000"],
        "  completions: 2\n  parallelism: 2",
        "      nodeSelector:\n        pool: b\n",
    );
    apply(s, first, "job.yaml", &yaml);
    let args = ["instances", "-l", "job-name=hosted"];
    let running = eventually(s, first, &args, "both instances never ran", |list| {
        instances(list)
            .iter()
            .filter(|i| i["status"]["phase"] == "Running")
            .count()
            == 2
    });
    assert!(
        instances(&running)
            .iter()
            .all(|i| i["status"]["nodeName"] == "n2"),
        "{running}"
    );
    let tainted = s.client(first, &["taint", "node", "n2", "drain=now:NoExecute"]);
    assert_eq!(tainted.code, 0, "{tainted:?}");
    let evicted = eventually(s, first, &args, "the taint evicted nothing", |list| {
        instances(list)
            .iter()
            .filter(|i| i["status"]["reason"] == "DeletionByTaintManager")
            .count()
            == 2
    });
    let ended = instances(&evicted);
    assert!(
        ended.iter().any(|i| i["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("NoExecute taint drain=now"))),
        "{evicted}"
    );
    assert_eq!(s.client(first, &["taint", "node", "n2", "drain-"]).code, 0);
    let job = s.wait_finished(first, "hosted");
    assert_eq!(job["status"]["succeeded"], 2, "{job}");
}

#[test]
fn a_node_runs_no_more_instances_for_other_nodes_than_its_extended_resources_allow() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let owner = cluster(&db, &[("n1", "")], &[]);
    let gpu = cluster(&db, &[("n2", "")], &["--resources", "example.com/gpu=1"]);
    let (s, first) = (&owner[0].session, &owner[0].server);
    std::thread::sleep(Duration::from_millis(800));
    let yaml = job_yaml(
        "gpus",
        &program("sleep-ms"),
        &["300"],
        "  completions: 3\n  parallelism: 3",
        "        resources:\n          limits:\n            example.com/gpu: 1\n",
    );
    apply(s, first, "job.yaml", &yaml);
    let job = s.wait_finished(first, "gpus");
    assert_eq!(job["status"]["succeeded"], 3, "{job}");
    let rows = job_rows(&db, "gpus");
    assert!(rows.iter().all(|r| r.2 == "n2"), "{rows:?}");
    // One GPU: never two at once on n2.
    let list = get_json(s, first, &["instances", "-l", "job-name=gpus"]);
    wasmjob_tests::assert_one_at_a_time(&instances(&list));
    // Two GPUs: no node has them, and the Job says so.
    let two = job_yaml(
        "two-gpus",
        &program("sleep-ms"),
        &["10"],
        "  completions: 2\n  parallelism: 2",
        "        resources:\n          limits:\n            example.com/gpu: 2\n",
    );
    apply(s, first, "two.yaml", &two);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let described = s.client(first, &["describe", "job", "two-gpus"]).stdout;
        if described.contains("FailedScheduling") && described.contains("extended resources") {
            break;
        }
        assert!(Instant::now() < deadline, "{described}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(job_rows(&db, "two-gpus").is_empty());
    drop(gpu);
}

#[test]
fn a_priority_class_applied_through_one_node_is_found_by_a_job_on_another() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(&db, &[("n1", ""), ("n2", "")], &[]);
    let (s2, second) = (&nodes[1].session, &nodes[1].server);
    apply(
        s2,
        second,
        "pc.yaml",
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: batch-high}\nvalue: 100\n",
    );
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    let yaml = job_yaml(
        "prioritised",
        &program("say-hello"),
        &[],
        "",
        "      priorityClassName: batch-high\n",
    );
    apply(s, first, "job.yaml", &yaml);
    let job = s.wait_finished(first, "prioritised");
    assert_eq!(job["status"]["succeeded"], 1, "{job}");
}

/// A namespace's `pods` quota holds for the whole cluster (issue 37), not
/// for each node: two Jobs of the namespace applied through two nodes,
/// each wanting more at once than the quota, one spread over every node in
/// chains — never more than the quota ran at once anywhere (read from
/// every instance's start and finish in the cluster's database), both
/// complete every completion, and the owner says why its instances waited
/// in Kubernetes' words.
#[test]
fn a_namespaces_pods_quota_holds_across_the_cluster() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(&db, &[("q1", ""), ("q2", ""), ("q3", "")], &[]);
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    let quota = "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: run, namespace: team}\n\
                 spec:\n  hard:\n    pods: \"3\"\n";
    apply(s, first, "quota.yaml", quota);
    // Every node follows the quota at its next heartbeat (200 ms here).
    std::thread::sleep(Duration::from_secs(1));
    let sleeping = |name: &str, spec: &str| {
        let yaml = job_yaml(name, &program("sleep-ms"), &["300"], spec, "");
        wasmjob_tests::in_namespace(&yaml, "team")
    };
    apply(
        s,
        first,
        "wide.yaml",
        &sleeping("wide", "  completions: 12\n  parallelism: 6"),
    );
    let (s2, second) = (&nodes[1].session, &nodes[1].server);
    apply(
        s2,
        second,
        "narrow.yaml",
        &sleeping("narrow", "  completions: 6\n  parallelism: 3"),
    );
    s.wait_complete(first, "wide", "team");
    s.wait_complete(first, "narrow", "team");
    let rows = db
        .client()
        .query(
            "SELECT start_time, finish_time, node_name, phase FROM instances
             WHERE namespace = 'team' AND start_time IS NOT NULL",
            &[],
        )
        .unwrap();
    let mut edges: Vec<(i64, i32)> = Vec::new();
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for row in &rows {
        assert_eq!(row.get::<_, String>(3), "Succeeded");
        edges.push((row.get(0), 1));
        edges.push((row.get::<_, Option<i64>>(1).expect("finished"), -1));
        *per_node.entry(row.get(2)).or_default() += 1;
    }
    assert_eq!(rows.len(), 18, "every completion once: {per_node:?}");
    // A finish and a start at the same instant: the finish first.
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    eprintln!("most at once: {most}; instances per node: {per_node:?}");
    assert!(
        most <= 3,
        "{most} instances of the namespace ran at once under pods=3"
    );
    assert!(most >= 2, "the quota's room was used: {most}");
    let events = s.client(first, &["get", "events", "-n", "team"]);
    assert!(
        events
            .stdout
            .contains("exceeded quota: run, requested: pods=1"),
        "{events:?}"
    );
}

/// The Jobs a CronJob creates count under `count/jobs.batch` with every
/// node's Jobs of the namespace, not only its owner's: under a quota of
/// two, with a Job applied through another node, a per-second CronJob
/// creates one Job and says why it creates no more.
#[test]
fn a_cronjobs_jobs_count_under_a_quota_with_other_nodes_jobs() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let nodes = cluster(&db, &[("c1", ""), ("c2", "")], &[]);
    let (s, first) = (&nodes[0].session, &nodes[0].server);
    let quota = "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: two-jobs, namespace: crons}\n\
                 spec:\n  hard:\n    count/jobs.batch: \"2\"\n";
    apply(s, first, "quota.yaml", quota);
    let (s2, second) = (&nodes[1].session, &nodes[1].server);
    let manual = job_yaml("manual", &program("say-hello"), &[], "", "");
    apply(
        s2,
        second,
        "manual.yaml",
        &wasmjob_tests::in_namespace(&manual, "crons"),
    );
    s2.wait_complete(second, "manual", "crons");
    // The owner of the CronJob counts the cluster's Jobs at its heartbeat.
    std::thread::sleep(Duration::from_secs(1));
    let tick = wasmjob_tests::per_second_cronjob("tick", "crons", "say-hello", 10);
    apply(s, first, "tick.yaml", &tick);
    let mut events = String::new();
    wasmjob_tests::wait_until("the CronJob's refusal", 30, || {
        events = s.client(first, &["get", "events", "-n", "crons"]).stdout;
        events.contains("exceeded quota: two-jobs, requested: count/jobs.batch=1")
    });
    // Three more scheduled times: still one Job of the CronJob's.
    std::thread::sleep(Duration::from_secs(3));
    let jobs: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM objects WHERE kind = 'Job' AND namespace = 'crons'
               AND deleted_at IS NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(jobs, 2, "{events}");
}

//! Clusters of local-first nodes on one PostgreSQL (issue 29), each figure
//! from real `wasmjob serve` processes on a fresh database: a Job spread
//! over three nodes against the same Job on one node, CronJob lateness
//! with the CronJobs spread over three nodes, and a node cut off from the
//! database for a minute. Without PostgreSQL each scenario says it was
//! skipped (with `CI=true` that is a failure, as in the tests).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use wasmjob_tests::{PgDatabase, Proxy};

use crate::node::{Node, Server};
use crate::report::{Row, Verdict, thousands};
use crate::scenarios::{Bench, job_manifest};

/// Heartbeat and grace of every node here.
const TIMING: &[&str] = &["--heartbeat", "200ms", "--node-grace", "3s"];

/// A node of a test cluster: its state directory and its server.
struct Member {
    node: Node,
    server: Server,
}

/// Starts `names` on the database at `url_of(i)`.
fn members(b: &Bench, names: &[&str], url_of: impl Fn(usize) -> String) -> Result<Vec<Member>> {
    let mut started = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let node = Node::new(&b.wasmjob)?;
        let url = url_of(i);
        let mut args = vec!["--store", url.as_str(), "--node-name", name];
        args.extend_from_slice(TIMING);
        let server = node.serve(&args)?;
        started.push(Member { node, server });
    }
    Ok(started)
}

/// A row saying the scenario did not run.
fn skipped(what: &str) -> Vec<Row> {
    vec![Row {
        scenario: format!("{what} (skipped: PostgreSQL is not reachable)"),
        wasmjob: "—".into(),
        baseline: "—".into(),
        ratio: "—".into(),
        target: "—".into(),
        verdict: Verdict::Missed,
    }]
}

/// Applies `yaml` through `m`.
fn apply(m: &Member, file: &str, yaml: &str) -> Result<()> {
    let path = m.node.write(file, yaml)?;
    m.node.client(
        &m.server,
        &["apply", "-f", path.to_str().context("a UTF-8 path")?],
    )?;
    Ok(())
}

/// Waits until Job `name` is Complete through `m`; the wall time since
/// `from`.
fn complete(m: &Member, name: &str, from: Instant) -> Result<Duration> {
    let deadline = from + Duration::from_secs(600);
    loop {
        let out = m
            .node
            .client(&m.server, &["get", "job", name, "-o", "json"])?;
        let job: serde_json::Value = serde_json::from_str(&out)?;
        let conditions = job["status"]["conditions"].as_array().cloned();
        let done = |kind: &str| {
            conditions
                .iter()
                .flatten()
                .any(|c| c["type"] == kind && c["status"] == "True")
        };
        if done("Complete") {
            return Ok(from.elapsed());
        }
        ensure!(!done("Failed"), "Job {name} failed: {job}");
        ensure!(Instant::now() < deadline, "Job {name} did not complete");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Records node `m` has not sent to the cluster yet.
fn unsent(m: &Member) -> Result<i64> {
    let db = rusqlite::Connection::open(m.node.db())?;
    Ok(db.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))?)
}

/// Waits until every node has sent what it recorded.
fn all_sent(nodes: &[Member]) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    for m in nodes {
        while unsent(m)? > 0 {
            ensure!(Instant::now() < deadline, "a node did not send its records");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// A `completions`-Job of `hello` over three nodes, against the same Job
/// on one node (SQLite), measured in the same run: apply to Complete.
pub fn cluster_throughput(b: &Bench) -> Result<Vec<Row>> {
    let what = "Job of `hello` over 3 nodes on one PostgreSQL";
    let Some(db) = PgDatabase::create() else {
        return Ok(skipped(what));
    };
    let hello = b.guest("hello.wasm")?;
    let n = b.sizes.completions;
    let par = 6;
    let spec = format!("  completions: {n}\n  parallelism: {par}\n");
    let job = job_manifest("many", &hello, &spec, "");
    let warm = job_manifest("warm", &hello, "  completions: 30\n  parallelism: 6\n", "");

    let one = Node::new(&b.wasmjob)?;
    let single = Member {
        server: one.serve(&[])?,
        node: one,
    };
    apply(&single, "warm.yaml", &warm)?;
    complete(&single, "warm", Instant::now())?;
    let started = Instant::now();
    apply(&single, "many.yaml", &job)?;
    let alone = complete(&single, "many", started)?;

    let nodes = members(b, &["n1", "n2", "n3"], |_| db.url.clone())?;
    apply(&nodes[0], "warm.yaml", &warm)?;
    complete(&nodes[0], "warm", Instant::now())?;
    let started = Instant::now();
    apply(&nodes[0], "many.yaml", &job)?;
    let spread = complete(&nodes[0], "many", started)?;
    all_sent(&nodes)?;
    let by_node: Vec<(String, i64)> = db
        .client()
        .query(
            "SELECT i.node_name, count(*) FROM instances i JOIN objects o ON o.uid = i.owner_uid
             WHERE o.name = 'many' GROUP BY 1 ORDER BY 1",
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let total: i64 = by_node.iter().map(|(_, c)| c).sum();
    // Exactly the completions: a chain's links are counted once each, and
    // no chain is given more than what is left.
    ensure!(total == n as i64, "{total} instances recorded, not {n}");
    let split = by_node
        .iter()
        .map(|(_, c)| c.to_string())
        .collect::<Vec<_>>()
        .join("/");
    let (ours, base) = (
        n as f64 / spread.as_secs_f64(),
        n as f64 / alone.as_secs_f64(),
    );
    Ok(vec![Row {
        scenario: format!(
            "{}-completion {what}, parallelism {par} (spread {split}) — vs one `serve` node on SQLite",
            thousands(n as f64)
        ),
        wasmjob: format!("{} inst/s", thousands(ours)),
        baseline: format!("{} inst/s", thousands(base)),
        ratio: format!("{:.3}", ours / base),
        target: "≥ 10,000/s and ≥ 0.50".into(),
        verdict: Verdict::of(ours >= 10_000.0 && ours / base >= 0.5),
    }])
}

/// CronJob lateness with the CronJobs spread over three nodes (a third
/// applied through each), read from the cluster's history.
pub fn cluster_cron_lateness(b: &Bench) -> Result<Vec<Row>> {
    let what = "CronJob firing lateness over 3 nodes";
    let Some(db) = PgDatabase::create() else {
        return Ok(skipped(what));
    };
    let hello = b.guest("hello.wasm")?;
    let nodes = members(b, &["n1", "n2", "n3"], |_| db.url.clone())?;
    let firing = b.sizes.firing.min(b.sizes.cronjobs);
    let docs = crate::scenarios::cronjob_docs(b, firing, &hello);
    for (i, m) in nodes.iter().enumerate() {
        let part: Vec<&String> = docs.iter().skip(i).step_by(nodes.len()).collect();
        let yaml = part
            .iter()
            .map(|d| d.as_str())
            .collect::<Vec<_>>()
            .join("---\n");
        apply(m, &format!("crons-{i}.yaml"), &yaml)?;
    }
    // Runs scheduled while the applies (a third of the CronJobs each, to
    // the cluster's database and each node's file) were still settling
    // measure the applies, not firing.
    let steady_from = wasmjob::time::now() + 2_000_000;
    std::thread::sleep(b.sizes.cron_window);
    all_sent(&nodes)?;
    let rows = db.client().query(
        "SELECT r.scheduled_time, r.job_uid IS NULL,
            (SELECT min(i.start_time) FROM instances i WHERE i.owner_uid = r.job_uid)
         FROM cron_runs r JOIN objects o ON o.uid = r.cronjob_uid
         WHERE o.kind = 'CronJob' AND r.scheduled_time >= $1",
        &[&steady_from],
    )?;
    let mut late = Vec::new();
    let mut missed = 0;
    for r in &rows {
        let scheduled: i64 = r.get(0);
        if r.get::<_, bool>(1) {
            missed += 1;
            continue;
        }
        if let Some(started) = r.get::<_, Option<i64>>(2) {
            late.push((started - scheduled) as f64 / 1e3);
        }
    }
    crate::scenarios::lateness_row(b, what, late, missed, 50.0)
}

/// A CronJob every two seconds, `disconnect` as given.
fn every_two_seconds(name: &str, disconnect: &str, image: &std::path::Path) -> String {
    format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {name}\nspec:\n  schedule: \"*/2 * * * * *\"\n  successfulJobsHistoryLimit: 500\n  disconnect: {disconnect}\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: c\n            image: {}\n          restartPolicy: Never\n",
        image.display()
    )
}

/// The decided times of CronJob `name` with the nodes its Job's
/// instances succeeded on.
fn runs_on(db: &PgDatabase, name: &str) -> Result<BTreeMap<i64, Vec<String>>> {
    let rows = db.client().query(
        "SELECT r.scheduled_time, i.node_name FROM cron_runs r
         JOIN objects o ON o.uid = r.cronjob_uid
         JOIN instances i ON i.owner_uid = r.job_uid AND i.phase = 'Succeeded'
         WHERE o.name = $1",
        &[&name],
    )?;
    let mut runs: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for r in &rows {
        runs.entry(r.get(0)).or_default().push(r.get(1));
    }
    Ok(runs)
}

/// A node cut off from the database (a TCP proxy the harness cuts): a
/// pinned and a replaceable `*/2 * * * * *` CronJob.
pub fn cluster_cut(b: &Bench) -> Result<Vec<Row>> {
    let what = "node cut off from the cluster's database";
    let Some(db) = PgDatabase::create() else {
        return Ok(skipped(what));
    };
    let hello = b.guest("hello.wasm")?;
    let proxy = Proxy::start("127.0.0.1:5432");
    let through = db.url.replace("127.0.0.1:5432", &proxy.address);
    let nodes = members(b, &["a", "b", "c"], |i| match i {
        0 => through.clone(),
        _ => db.url.clone(),
    })?;
    let lost_after = 5;
    let pinned = every_two_seconds("pinned", "{replace: false}", &hello);
    let roaming = every_two_seconds("roaming", &format!("{{lostAfter: {lost_after}s}}"), &hello);
    apply(&nodes[0], "pinned.yaml", &pinned)?;
    apply(&nodes[0], "roaming.yaml", &roaming)?;
    std::thread::sleep(Duration::from_secs(4));
    all_sent(&nodes)?;
    let cut_at = wasmjob::time::now();
    proxy.cut();
    std::thread::sleep(b.sizes.cut);
    let healed_at = wasmjob::time::now();
    proxy.restore();
    std::thread::sleep(Duration::from_secs(3));
    all_sent(&nodes)?;

    let even: BTreeSet<i64> = (cut_at / 2_000_000 + 1..)
        .map(|k| k * 2_000_000)
        .take_while(|t| *t < healed_at)
        .collect();
    let pinned = runs_on(&db, "pinned")?;
    let on_a = even
        .iter()
        .filter(|t| pinned.get(t).is_some_and(|n| n.iter().all(|n| n == "a")))
        .count();
    let roaming = runs_on(&db, "roaming")?;
    let twice = roaming.values().filter(|n| n.len() > 1).count();
    for (t, n) in roaming.iter().filter(|(_, n)| n.len() > 1) {
        eprintln!("wasmjob-bench: roaming time {t} succeeded on {n:?} (cut at {cut_at})");
        let detail = db.client().query(
            "SELECT i.name, i.node_name, i.phase, i.reason, i.created_at, i.start_time, i.finish_time, i.restart_count, o.name, o.owner_node
             FROM cron_runs r JOIN instances i ON i.owner_uid = r.job_uid JOIN objects o ON o.uid = r.job_uid
             WHERE r.scheduled_time = $1",
            &[t],
        )?;
        for r in &detail {
            eprintln!(
                "  {:?} {:?} {:?} {:?} created {:?} start {:?} finish {:?} restarts {:?} job {:?} owner {:?}",
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
                r.get::<_, Option<String>>(3),
                r.get::<_, i64>(4),
                r.get::<_, Option<i64>>(5),
                r.get::<_, Option<i64>>(6),
                r.get::<_, i64>(7),
                r.get::<_, String>(8),
                r.get::<_, Option<String>>(9)
            );
        }
    }
    let names: Vec<String> = db
        .client()
        .query(
            "SELECT name FROM objects WHERE kind = 'Job' AND name LIKE 'roaming-%'",
            &[],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let doubled = names.len() - names.iter().collect::<BTreeSet<_>>().len();
    let moved = roaming
        .iter()
        .find(|(t, n)| **t > cut_at && n.iter().any(|n| n != "a"))
        .map(|(t, _)| (*t - cut_at) as f64 / 1e6);
    let logged: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM logs l WHERE l.instance_uid = i.uid))
                    - count(*)
             FROM instances i WHERE i.node_name = 'a' AND i.created_at BETWEEN $1 AND $2",
            &[&cut_at, &healed_at],
        )?
        .get(0);
    let cut = b.sizes.cut.as_secs();
    let bound = lost_after as f64 + 0.2 + 2.0;
    Ok(vec![
        Row {
            scenario: format!(
                "During a {cut} s cut: a pinned `*/2 * * * * *` CronJob on the cut node"
            ),
            wasmjob: format!("{on_a} of {} times", even.len()),
            baseline: "—".into(),
            ratio: "—".into(),
            target: "every time".into(),
            verdict: Verdict::of(on_a == even.len()),
        },
        Row {
            scenario: format!(
                "During a {cut} s cut: a replaceable one (lostAfter {lost_after} s) first runs on another node after"
            ),
            wasmjob: moved.map_or("never".into(), |s| format!("{s:.1} s")),
            baseline: "—".into(),
            ratio: "—".into(),
            target: format!("≤ lostAfter + heartbeat + one period ({bound:.1} s)"),
            verdict: Verdict::of(moved.is_some_and(|s| s <= bound)),
        },
        Row {
            scenario: format!(
                "After the {cut} s cut healed: scheduled times that succeeded twice / Jobs doubled / cut node's instances without their log"
            ),
            wasmjob: format!("{twice} / {doubled} / {}", -logged),
            baseline: "—".into(),
            ratio: "—".into(),
            target: "0 / 0 / 0".into(),
            verdict: Verdict::of(twice == 0 && doubled == 0 && logged == 0),
        },
    ])
}

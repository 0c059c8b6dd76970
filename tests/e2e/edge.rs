//! Local-first nodes (issue 29): a node cut off from the cluster's
//! database carries on alone and the cluster's history comes out whole.
//! Node `a` reaches PostgreSQL through a [`Proxy`] the tests cut and
//! restore; `b` and `c` reach it directly. Every count is read from the
//! cluster's database after the link healed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmjob_tests::{PgDatabase, Proxy, Server, Session, program};

/// A short heartbeat and grace, so that a cut is seen within seconds.
const TIMING: &[&str] = &["--heartbeat", "200ms", "--node-grace", "3s"];

/// `lostAfter` of the CronJob the other nodes may replace.
const LOST_AFTER: Duration = Duration::from_secs(5);

/// One node of a test cluster.
struct Node {
    session: Session,
    server: Server,
}

impl Node {
    /// Starts node `name` on the database at `url`, in `session`.
    fn start(session: Session, url: &str, name: &str) -> Node {
        let mut args = vec!["--store", url, "--node-name", name];
        args.extend_from_slice(TIMING);
        let server = Server::start(&session, &args);
        Node { session, server }
    }

    /// Starts this node's server again (after a stop or a crash).
    fn restart(session: Session, url: &str, name: &str) -> Node {
        Node::start(session, url, name)
    }

    /// `wasmjob ARGS` against this node; must succeed.
    fn run(&self, args: &[&str]) -> wasmjob_tests::Ran {
        let ran = self.session.client(&self.server, args);
        assert_eq!(ran.code, 0, "{args:?}: {ran:?}");
        ran
    }

    /// `wasmjob apply` of `yaml` through this node.
    fn apply(&self, file: &str, yaml: &str) {
        let path = self.session.write(file, yaml);
        self.run(&["apply", "-f", path.to_str().unwrap()]);
    }

    /// `get ARGS -o json` through this node.
    fn get(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend(args);
        all.extend(["-o", "json"]);
        self.run(&all).json()
    }

    /// Records this node has not sent to the cluster yet.
    fn unsent(&self) -> i64 {
        let db = self.session.db();
        db.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
            .unwrap()
    }

    /// Waits until this node has sent everything, or fails after 30 s.
    fn sent(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.unsent() > 0 {
            assert!(
                Instant::now() < deadline,
                "the node did not send its records"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The database's URL with its address replaced by the proxy's.
fn through(db: &PgDatabase, proxy: &Proxy) -> String {
    db.url.replace("127.0.0.1:5432", &proxy.address)
}

/// A CronJob of `say-hello` every two seconds with `disconnect`.
fn cronjob(name: &str, schedule: &str, disconnect: &str, suspend: bool) -> String {
    format!(
        "apiVersion: batch/v1
kind: CronJob
metadata:
  name: {name}
spec:
  schedule: \"{schedule}\"
  suspend: {suspend}
  successfulJobsHistoryLimit: 200
  disconnect: {disconnect}
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: main
            image: {image}
          restartPolicy: Never
",
        image = program("say-hello").display()
    )
}

/// A DaemonSet pinned to its nodes (`replace: false`) whose instance runs
/// for ten minutes.
fn daemonset() -> String {
    format!(
        "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: watch
spec:
  disconnect: {{replace: false}}
  template:
    spec:
      containers:
      - name: main
        image: {image}
        args: [\"600000\"]
",
        image = program("sleep-ms").display()
    )
}

/// A Job pinned to node `a` by name: `n` instances of two seconds, one at
/// a time.
fn pinned_job(n: u32) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: work
spec:
  completions: {n}
  template:
    spec:
      nodeSelector:
        kubernetes.io/hostname: a
      containers:
      - name: main
        image: {image}
        args: [\"2000\"]
      restartPolicy: Never
",
        image = program("sleep-ms").display()
    )
}

/// The cluster's decided times of CronJob `name` (it may have been
/// deleted): scheduled time (µs) → Job uid.
fn runs(db: &PgDatabase, name: &str) -> BTreeMap<i64, Option<String>> {
    let rows = db
        .client()
        .query(
            "SELECT r.scheduled_time, r.job_uid FROM cron_runs r
             JOIN objects o ON o.uid = r.cronjob_uid
             WHERE o.kind = 'CronJob' AND o.name = $1",
            &[&name],
        )
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// The node each of these Jobs' instances ran on, by Job uid.
fn ran_on(db: &PgDatabase, jobs: &[String]) -> BTreeMap<String, Vec<String>> {
    let rows = db
        .client()
        .query(
            "SELECT owner_uid, node_name FROM instances WHERE owner_uid = ANY($1)",
            &[&jobs],
        )
        .unwrap();
    let mut on: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &rows {
        on.entry(r.get(0)).or_default().push(r.get(1));
    }
    on
}

/// The even seconds strictly between `from` and `to` (µs since the epoch).
fn even_seconds(from: i64, to: i64) -> BTreeSet<i64> {
    let first = from / 2_000_000 + 1;
    (first..)
        .map(|k| k * 2_000_000)
        .take_while(|t| *t < to)
        .collect()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

#[test]
fn a_node_cut_off_for_a_minute_keeps_its_work_and_the_cluster_keeps_each_time_once() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let proxy = Proxy::start("127.0.0.1:5432");
    let a = Node::start(Session::new(), &through(&db, &proxy), "a");
    let b = Node::start(Session::new(), &db.url, "b");
    let _c = Node::start(Session::new(), &db.url, "c");
    a.apply(
        "pinned.yaml",
        &cronjob("pinned", "*/2 * * * * *", "{replace: false}", false),
    );
    a.apply(
        "roaming.yaml",
        &cronjob("roaming", "*/2 * * * * *", "{lostAfter: 5s}", false),
    );
    a.apply("watch.yaml", &daemonset());
    a.apply("work.yaml", &pinned_job(25));
    std::thread::sleep(Duration::from_secs(5));
    a.sent();

    let cut_at = now();
    proxy.cut();
    std::thread::sleep(Duration::from_secs(30));
    // Halfway: a answers from its own records, and says so.
    let ran = a.run(&["get", "jobs", "-o", "json"]);
    assert!(
        ran.stderr
            .contains("Warning: the cluster database does not answer"),
        "{ran:?}"
    );
    let alone: Value = ran.json();
    let pinned_jobs = |list: &Value| {
        let items = list["items"].as_array().unwrap().iter();
        items
            .filter(|j| {
                j["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("pinned-")
            })
            .count()
    };
    assert!(pinned_jobs(&alone) >= 14, "{alone}");
    // b shows a's daemon instance as last known, marked.
    let seen = b.get(&["instances"]);
    let on_a: Vec<&Value> = seen["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            i["status"]["nodeName"] == "a"
                && i["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("watch-")
        })
        .collect();
    assert_eq!(on_a.len(), 1, "{seen}");
    assert_eq!(on_a[0]["status"]["phase"], "Unknown", "{seen}");
    assert_eq!(on_a[0]["status"]["reason"], "NodeUnreachable", "{seen}");
    std::thread::sleep(Duration::from_secs(30));
    let healed_at = now();
    proxy.restore();
    std::thread::sleep(Duration::from_secs(3));
    a.sent();
    std::thread::sleep(Duration::from_secs(2));

    // The pinned CronJob fired at every scheduled time of the cut, on a.
    let pinned = runs(&db, "pinned");
    let during: Vec<i64> = even_seconds(cut_at, healed_at).into_iter().collect();
    let missing: Vec<&i64> = during.iter().filter(|t| !pinned.contains_key(t)).collect();
    assert!(
        missing.is_empty(),
        "pinned missed {missing:?} of {during:?}"
    );
    // The cut lasted a little over 60 s (the checks halfway take time).
    assert!(during.len() >= 30, "{during:?}");
    let jobs: Vec<String> = during.iter().map(|t| pinned[t].clone().unwrap()).collect();
    let on = ran_on(&db, &jobs);
    assert_eq!(
        on.len(),
        jobs.len(),
        "every run's instance is in the history"
    );
    assert!(on.values().flatten().all(|n| n == "a"), "{on:?}");
    // Every instance a ran during the cut is there with its log.
    let logged: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM instances i JOIN logs l ON l.instance_uid = i.uid
             WHERE i.owner_uid = ANY($1) AND l.data <> ''",
            &[&jobs],
        )
        .unwrap()
        .get(0);
    assert_eq!(logged, jobs.len() as i64);

    // The CronJob others may replace fired at most once per time, and
    // another node took it over within lostAfter and a heartbeat (and a
    // scheduled period) of the cut.
    let roaming = runs(&db, "roaming");
    let jobs: Vec<String> = roaming.values().flatten().cloned().collect();
    let on = ran_on(&db, &jobs);
    let names: Vec<String> = db
        .client()
        .query(
            "SELECT name FROM objects WHERE kind = 'Job' AND name LIKE 'roaming-%'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let distinct: BTreeSet<&String> = names.iter().collect();
    assert_eq!(distinct.len(), names.len(), "a time ran twice: {names:?}");
    let first_elsewhere = roaming
        .iter()
        .filter(|(t, job)| {
            **t > cut_at
                && job
                    .as_ref()
                    .is_some_and(|j| on.get(j).is_some_and(|n| n[0] != "a"))
        })
        .map(|(t, _)| *t)
        .next()
        .expect("another node took the roaming CronJob over");
    let bound =
        cut_at + (LOST_AFTER + Duration::from_millis(200 + 2_000 + 1_000)).as_micros() as i64;
    assert!(
        first_elsewhere <= bound,
        "taken over at {first_elsewhere}, cut at {cut_at}"
    );
    let late_on_a = roaming
        .iter()
        .filter(|(t, job)| {
            **t > first_elsewhere
                && job
                    .as_ref()
                    .is_some_and(|j| on.get(j).is_some_and(|n| n[0] == "a"))
        })
        .count();
    assert_eq!(late_on_a, 0, "a fired a time after it was replaced");

    // The daemon instance ran through the cut, never restarted or ended.
    let watch: Vec<(String, i64, Option<i64>)> = db
        .client()
        .query(
            "SELECT i.node_name, i.restart_count, i.finish_time FROM instances i
             JOIN objects o ON o.uid = i.owner_uid WHERE o.name = 'watch' AND i.node_name = 'a'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(watch, [("a".to_owned(), 0, None)]);

    // The Job pinned to a ran to its end, every instance on a, with logs.
    let work = a.get(&["jobs", "work"]);
    assert_eq!(work["status"]["succeeded"], 25, "{work}");
    let rows = db
        .client()
        .query(
            "SELECT i.node_name, (SELECT count(*) FROM logs l WHERE l.instance_uid = i.uid)
             FROM instances i JOIN objects o ON o.uid = i.owner_uid WHERE o.name = 'work'",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 25);
    assert!(
        rows.iter()
            .all(|r| r.get::<_, String>(0) == "a" && r.get::<_, i64>(1) == 1)
    );
}

#[test]
fn a_node_that_starts_while_the_database_is_away_runs_its_pinned_work_then_joins() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let proxy = Proxy::start("127.0.0.1:5432");
    let url = through(&db, &proxy);
    let a = Node::start(Session::new(), &url, "a");
    let b = Node::start(Session::new(), &db.url, "b");
    a.apply(
        "pinned.yaml",
        &cronjob("pinned", "*/1 * * * * *", "{replace: false}", false),
    );
    a.apply("watch.yaml", &daemonset());
    std::thread::sleep(Duration::from_secs(2));
    a.sent();
    let Node { session, server } = a;
    assert_eq!(server.terminate(), 0);
    proxy.cut();
    let started_at = now();
    let a = Node::restart(session, &url, "a");
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        a.session
            .serve_log()
            .contains("starting from this node's own records"),
        "{}",
        a.session.serve_log()
    );
    let instances = a.get(&["instances"]);
    let watching = instances["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            i["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("watch-")
        })
        .filter(|i| i["status"]["phase"] == "Running")
        .count();
    assert_eq!(watching, 1, "{instances}");
    proxy.restore();
    std::thread::sleep(Duration::from_secs(2));
    a.sent();
    // The runs a made alone are the cluster's now, and a is Ready again.
    let offline = runs(&db, "pinned")
        .into_iter()
        .filter(|(t, job)| *t > started_at && job.is_some())
        .count();
    assert!(offline >= 4, "{offline} runs while starting alone");
    // Ready at its next heartbeat that reaches the database (under a
    // loaded CI machine, more than the two seconds above).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let nodes = b.get(&["nodes"]);
        let a_row = nodes["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["metadata"]["name"] == "a")
            .cloned()
            .unwrap();
        if a_row["status"]["conditions"][0]["status"] == "True" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{nodes}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn what_changed_centrally_while_a_node_was_away_reaches_it_when_it_is_back() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let proxy = Proxy::start("127.0.0.1:5432");
    let a = Node::start(Session::new(), &through(&db, &proxy), "a");
    let b = Node::start(Session::new(), &db.url, "b");
    a.apply(
        "gone.yaml",
        &cronjob("gone", "*/1 * * * * *", "{replace: false}", false),
    );
    let held = cronjob("held", "*/1 * * * * *", "{replace: false}", false);
    a.apply("held.yaml", &held);
    std::thread::sleep(Duration::from_secs(3));
    a.sent();
    proxy.cut();
    let cut_at = now();
    // Deleted and suspended through b while a is away: a does not know.
    b.run(&["delete", "cronjob", "gone"]);
    b.apply(
        "held.yaml",
        &cronjob("held", "*/1 * * * * *", "{replace: false}", true),
    );
    std::thread::sleep(Duration::from_secs(5));
    proxy.restore();
    std::thread::sleep(Duration::from_secs(3));
    a.sent();
    let settled_at = now();
    std::thread::sleep(Duration::from_secs(3));
    a.sent();
    for name in ["gone", "held"] {
        let runs = runs(&db, name);
        // What a ran while away is in the history…
        let away = runs
            .keys()
            .filter(|t| **t > cut_at && **t < cut_at + 4_000_000);
        assert!(away.count() >= 3, "{name}: {runs:?}");
        // …and once back it runs it no more.
        let after: Vec<&i64> = runs.keys().filter(|t| **t > settled_at).collect();
        assert!(after.is_empty(), "{name} ran after a was back: {after:?}");
    }
    let crons = a.get(&["cronjobs"]);
    let names: Vec<&str> = crons["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["held"]);
}

#[test]
fn a_node_killed_while_cut_off_loses_nothing_it_had_recorded() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let proxy = Proxy::start("127.0.0.1:5432");
    let url = through(&db, &proxy);
    let a = Node::start(Session::new(), &url, "a");
    let _b = Node::start(Session::new(), &db.url, "b");
    a.apply(
        "pinned.yaml",
        &cronjob("pinned", "*/1 * * * * *", "{replace: false}", false),
    );
    std::thread::sleep(Duration::from_secs(2));
    a.sent();
    proxy.cut();
    std::thread::sleep(Duration::from_secs(6));
    // What a has recorded alone, as its own file says.
    let recorded: BTreeSet<i64> = {
        let file = a.session.db();
        let mut stmt = file
            .prepare("SELECT scheduled_time FROM cron_runs WHERE job_uid IS NOT NULL")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert!(a.unsent() > 0, "a kept records to send");
    let Node { session, server } = a;
    server.crash();
    let a = Node::restart(session, &url, "a");
    std::thread::sleep(Duration::from_secs(3));
    proxy.restore();
    std::thread::sleep(Duration::from_secs(2));
    a.sent();
    let cluster = runs(&db, "pinned");
    let lost: Vec<&i64> = recorded
        .iter()
        .filter(|t| !cluster.contains_key(t))
        .collect();
    assert!(
        lost.is_empty(),
        "recorded before the crash, never sent: {lost:?}"
    );
    assert!(cluster.len() > recorded.len(), "a ran on after its restart");
}

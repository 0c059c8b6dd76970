//! The store test suite, run on both stores: the embedded SQLite file and a
//! fresh PostgreSQL database (the cluster store). Each case takes an empty
//! store; what it asserts holds for both.
//!
//! PostgreSQL is the local server (`WASMJOB_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/test`); each test creates its own
//! database and drops it afterwards. Without the server the PostgreSQL half
//! is skipped with a printed reason, unless `CI=true`, where it fails.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::{EventRecord, InstanceRecord, InstanceScope, ObjectRecord, Store, Write};
use crate::manifest::Kind;
use crate::manifest::Phase;

/// A database of its own on the local PostgreSQL, dropped with this value.
pub struct TestDatabase {
    admin: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

impl TestDatabase {
    /// A fresh database, or `None` (with the reason printed) when there is
    /// no server and `CI` is not `true`.
    pub fn create() -> Option<TestDatabase> {
        let admin = std::env::var("WASMJOB_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let mut client = match postgres::Client::connect(&admin, postgres::NoTls) {
            Ok(client) => client,
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("PostgreSQL is not reachable at {admin} ({e}), and CI=true requires it")
            }
            Err(e) => {
                eprintln!("skipped: PostgreSQL is not reachable at {admin}: {e}");
                return None;
            }
        };
        let name = format!("wasmjob_{}", crate::ids::uid().replace('-', "_"));
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("creating a test database");
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        Some(TestDatabase { admin, name, url })
    }
}

impl TestDatabase {
    /// Moves `node`'s last heartbeat (and so the end of its leases) `by`
    /// into the past, as if it had been silent that long: a lost node without a
    /// test waiting for the clock (a sleep races a loaded machine's
    /// scheduler).
    pub fn silence(&self, node: &str, by: Duration) {
        let mut client = self.client();
        let by = by.as_micros() as i64;
        client
            .execute(
                "UPDATE nodes SET heartbeat_at = heartbeat_at - $2 WHERE name = $1",
                &[&node, &by],
            )
            .unwrap();
    }

    /// A connection to the database, to look at what the nodes wrote.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }

    /// How node `node` reaches this database.
    pub fn link(&self, node: &str) -> super::ClusterLink {
        super::ClusterLink {
            url: self.url.clone(),
            node: node.to_owned(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name));
        }
    }
}

/// Stores of nodes named `names`, each with its own file in `dir`, sharing
/// the PostgreSQL database `db`, committing to it directly (see
/// [`Store::cluster_direct`]).
fn nodes<const N: usize>(db: &TestDatabase, dir: &std::path::Path, names: [&str; N]) -> [Store; N] {
    names.map(|name| {
        let file = dir.join(format!("{name}.db"));
        Store::cluster_direct(&db.link(name), &file).unwrap()
    })
}

/// Runs `case` on an empty SQLite store and an empty PostgreSQL store.
fn on_both(case: impl Fn(&mut Store)) {
    let dir = tempfile::tempdir().unwrap();
    let mut sqlite = Store::open(&dir.path().join("state.db")).unwrap();
    case(&mut sqlite);
    if let Some(db) = TestDatabase::create() {
        let file = dir.path().join("node.db");
        let mut pg = Store::cluster_direct(&db.link("node-a"), &file).unwrap();
        case(&mut pg);
    }
}

fn object(kind: Kind, name: &str, at: i64) -> ObjectRecord {
    ObjectRecord {
        uid: crate::ids::uid(),
        kind,
        namespace: "default".into(),
        name: name.into(),
        labels: BTreeMap::from([("app".to_owned(), name.to_owned())]),
        manifest: json!({"metadata": {"name": name}, "spec": {"n": 1}}),
        status: json!({}),
        created_at: at,
        deleted_at: None,
    }
}

fn instance(owner: &ObjectRecord, name: &str, at: i64) -> InstanceRecord {
    InstanceRecord {
        uid: crate::ids::uid(),
        name: name.into(),
        namespace: owner.namespace.clone(),
        owner_uid: owner.uid.clone(),
        completion_index: Some(3),
        labels: BTreeMap::from([("job-name".to_owned(), owner.name.clone())]).into(),
        phase: Phase::Running,
        exit_code: None,
        reason: None,
        message: None,
        node_name: "node-a".into(),
        restart_count: 0,
        created_at: at,
        start_time: Some(at),
        finish_time: None,
        chain: None,
    }
}

#[test]
fn an_object_is_created_updated_replaced_and_deleted() {
    on_both(|store| {
        let first = object(Kind::Job, "report", 10);
        store
            .commit(&[Write::ObjectCreated(first.clone())])
            .unwrap();
        let found = store.live_object(Kind::Job, "default", "report").unwrap();
        assert_eq!(found.as_ref(), Some(&first));
        let manifest = json!({"metadata": {"name": "report"}, "spec": {"n": 2}});
        let labels = BTreeMap::from([("tier".to_owned(), "batch".to_owned())]);
        store
            .commit(&[
                Write::ObjectManifest {
                    uid: first.uid.clone(),
                    manifest: manifest.clone(),
                    labels: labels.clone(),
                },
                Write::ObjectStatus {
                    uid: first.uid.clone(),
                    status: json!({"active": 1}),
                },
            ])
            .unwrap();
        let found = store.object(&first.uid).unwrap().unwrap();
        assert_eq!(
            (found.manifest, found.labels, found.status),
            (manifest, labels, json!({"active": 1}))
        );
        // The same name again: the old object goes to history.
        let second = object(Kind::Job, "report", 20);
        store
            .commit(&[Write::ObjectCreated(second.clone())])
            .unwrap();
        let live = store.live_objects(Kind::Job, Some("default")).unwrap();
        assert_eq!(
            live.iter().map(|o| &o.uid).collect::<Vec<_>>(),
            [&second.uid]
        );
        assert_eq!(
            store.object(&first.uid).unwrap().unwrap().deleted_at,
            Some(20)
        );
        store
            .commit(&[Write::ObjectDeleted {
                uid: second.uid.clone(),
                at: 30,
            }])
            .unwrap();
        assert!(store.live_objects(Kind::Job, None).unwrap().is_empty());
        assert!(store.live_objects(Kind::CronJob, None).unwrap().is_empty());
    });
}

#[test]
fn instances_are_upserted_and_found_by_job_name_or_own_name() {
    on_both(|store| {
        let job = object(Kind::Job, "crunch", 1);
        let other = object(Kind::Job, "other", 1);
        let mut a = instance(&job, "crunch-3-abcde", 2);
        let b = instance(&other, "other-3-fghij", 3);
        store
            .commit(&[
                Write::ObjectCreated(job.clone()),
                Write::ObjectCreated(other.clone()),
                Write::Instance(a.clone()),
                Write::Instance(b.clone()),
            ])
            .unwrap();
        a.phase = Phase::Failed;
        a.exit_code = Some(3);
        a.reason = Some("Error".into());
        a.finish_time = Some(9);
        a.restart_count = 2;
        store.commit(&[Write::Instance(a.clone())]).unwrap();
        assert_eq!(store.instances_of(&job.uid).unwrap(), [a.clone()]);
        let of_job = store
            .live_instances_in(None, InstanceScope::OfJob("crunch"))
            .unwrap();
        assert_eq!(of_job, [a.clone()]);
        let named = store
            .live_instances_in(Some("default"), InstanceScope::Named("other-3-fghij"))
            .unwrap();
        assert_eq!(named, std::slice::from_ref(&b));
        assert_eq!(store.live_instances(None).unwrap(), [a.clone(), b.clone()]);
        // A removed instance and a deleted owner's instances leave the live view.
        store
            .commit(&[
                Write::InstanceDeleted {
                    uid: b.uid.clone(),
                    at: 10,
                },
                Write::ObjectDeleted {
                    uid: job.uid.clone(),
                    at: 10,
                },
            ])
            .unwrap();
        assert!(store.live_instances(None).unwrap().is_empty());
        assert_eq!(
            store.instances_of(&job.uid).unwrap().len(),
            1,
            "history stays"
        );
    });
}

#[test]
fn every_attempts_log_and_records_are_kept() {
    on_both(|store| {
        let job = object(Kind::Job, "logged", 1);
        let i = instance(&job, "logged-1", 2);
        let record = crate::runtime::LogRecord {
            time: 5,
            level: crate::runtime::LogLevel::Warn,
            message: "disk almost full".into(),
            fields: vec![("disk".to_owned(), "sda".to_owned())],
        };
        let mut second_times = crate::runtime::line_times::LineTimes::default();
        second_times.note(0, b"second\n", true, 1_000_000);
        store
            .commit(&[
                Write::ObjectCreated(job.clone()),
                Write::Instance(i.clone()),
                Write::Log {
                    instance_uid: i.uid.clone(),
                    attempt: 0,
                    data: b"first\n".to_vec(),
                    truncated: false,
                    times: Default::default(),
                },
                Write::Log {
                    instance_uid: i.uid.clone(),
                    attempt: 1,
                    data: b"second\n".to_vec(),
                    truncated: true,
                    times: second_times.clone(),
                },
                Write::LogRecords {
                    instance_uid: i.uid.clone(),
                    attempt: 1,
                    records: vec![record.clone()],
                },
            ])
            .unwrap();
        assert_eq!(
            store.logs(&i.uid).unwrap(),
            [(0, b"first\n".to_vec()), (1, b"second\n".to_vec())]
        );
        assert_eq!(store.log_records(&i.uid).unwrap(), [(1, record)]);
        // When each line began, beside it.
        let times = store.log_times(&i.uid).unwrap();
        assert_eq!(times[1], (1, second_times.clone()));
        assert!(times[0].1.is_empty());
    });
}

#[test]
fn an_instance_written_with_its_first_log_keeps_it_through_later_writes() {
    on_both(|store| {
        let job = object(Kind::Job, "one-row", 1);
        let mut i = instance(&job, "one-row-1", 2);
        i.phase = Phase::Succeeded;
        i.finish_time = Some(3);
        // Written before it ended, then with its log as it ended.
        let mut running = i.clone();
        running.phase = Phase::Running;
        running.finish_time = None;
        store
            .commit(&[Write::ObjectCreated(job.clone()), Write::Instance(running)])
            .unwrap();
        store
            .commit(&[Write::InstanceLogged {
                instance: i.clone(),
                log: b"hello\n".to_vec(),
                truncated: false,
                times: Default::default(),
            }])
            .unwrap();
        assert_eq!(store.instances_of(&job.uid).unwrap(), [i.clone()]);
        assert_eq!(store.logs(&i.uid).unwrap(), [(0, b"hello\n".to_vec())]);
        // A later state of the row without a log keeps the log.
        i.restart_count = 1;
        store.commit(&[Write::Instance(i.clone())]).unwrap();
        assert_eq!(store.instances_of(&job.uid).unwrap(), [i.clone()]);
        assert_eq!(store.logs(&i.uid).unwrap(), [(0, b"hello\n".to_vec())]);
    });
}

#[test]
fn what_a_running_first_attempt_printed_gives_way_to_its_whole_log() {
    on_both(|store| {
        let job = object(Kind::Job, "kept-early", 1);
        let mut i = instance(&job, "kept-early-1", 2);
        let kept = |data: &[u8]| Write::Log {
            instance_uid: i.uid.clone(),
            attempt: 0,
            data: data.to_vec(),
            truncated: false,
            times: Default::default(),
        };
        // Kept while it ran: before its row is written the node's file has
        // nowhere to keep it (its end writes it all), and the batch goes
        // through; after, in the row.
        store
            .commit(&[Write::ObjectCreated(job.clone()), kept(b"early\n")])
            .unwrap();
        i.phase = Phase::Running;
        store
            .commit(&[Write::Instance(i.clone()), kept(b"so far\n")])
            .unwrap();
        assert_eq!(store.logs(&i.uid).unwrap(), [(0, b"so far\n".to_vec())]);
        i.phase = Phase::Succeeded;
        i.finish_time = Some(3);
        store
            .commit(&[Write::InstanceLogged {
                instance: i.clone(),
                log: b"so far\nand the rest\n".to_vec(),
                truncated: false,
                times: Default::default(),
            }])
            .unwrap();
        assert_eq!(
            store.logs(&i.uid).unwrap(),
            [(0, b"so far\nand the rest\n".to_vec())]
        );
    });
}

/// The logs of one instance after another, on the writer's connection and
/// on a reader's (the API's), without compiling the statement again for
/// each instance (see `plan_once`).
#[test]
fn logs_of_many_instances_are_read_with_one_compiled_statement() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut store = Store::open(&path).unwrap();
    let job = object(Kind::Job, "many", 1);
    let mut writes = vec![Write::ObjectCreated(job.clone())];
    let instances: Vec<_> = (0..5)
        .map(|n| instance(&job, &format!("many-{n}"), 2))
        .collect();
    for (n, i) in instances.iter().enumerate() {
        writes.push(Write::InstanceLogged {
            instance: i.clone(),
            log: format!("hello {n}\n").into_bytes(),
            truncated: false,
            times: Default::default(),
        });
    }
    store.commit(&writes).unwrap();
    let reader = Store::open_readonly(&path).unwrap();
    for store in [&store, &reader] {
        for (n, i) in instances.iter().enumerate() {
            assert_eq!(
                store.logs(&i.uid).unwrap(),
                [(0, format!("hello {n}\n").into_bytes())]
            );
        }
        let stmt = store.local.conn.prepare_cached(super::LOGS).unwrap();
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "the logs statement was compiled again for a new instance"
        );
    }
}

#[test]
fn logs_written_before_schema_6_are_read_with_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    let job = object(Kind::Job, "old", 1);
    let i = instance(&job, "old-1", 2);
    store
        .commit(&[Write::ObjectCreated(job), Write::Instance(i.clone())])
        .unwrap();
    // What schema 5 wrote: the first attempt's log in `logs`.
    store
        .local
        .conn
        .execute(
            "INSERT INTO logs (instance_uid, attempt, data, truncated) VALUES (?1, 0, ?2, 0)",
            rusqlite::params![i.uid, b"before\n".to_vec()],
        )
        .unwrap();
    store
        .commit(&[Write::Log {
            instance_uid: i.uid.clone(),
            attempt: 1,
            data: b"after\n".to_vec(),
            truncated: false,
            times: Default::default(),
        }])
        .unwrap();
    assert_eq!(
        store.logs(&i.uid).unwrap(),
        [(0, b"before\n".to_vec()), (1, b"after\n".to_vec())]
    );
}

#[test]
fn events_modules_and_expiry() {
    on_both(|store| {
        let job = object(Kind::Job, "evented", 1);
        let event = EventRecord {
            object_uid: job.uid.clone(),
            kind: "Normal".into(),
            reason: "Completed".into(),
            message: "Job completed".into(),
            time: 7,
        };
        store
            .commit(&[
                Write::ObjectCreated(job.clone()),
                Write::Event(event.clone()),
                Write::Module {
                    digest: "sha256:abc".into(),
                    component: false,
                    bytes: b"\0asm".to_vec(),
                    at: 1,
                },
                Write::ObjectExpiry {
                    uid: job.uid.clone(),
                    at: 100,
                },
            ])
            .unwrap();
        assert_eq!(store.live_events(Some("default")).unwrap(), [event]);
        // Storing a module twice is harmless; its bytes never change.
        store.put_module("sha256:abc", false, b"other", 2).unwrap();
        assert_eq!(store.module("sha256:abc").unwrap(), Some(b"\0asm".to_vec()));
        assert_eq!(store.module("sha256:none").unwrap(), None);
        assert_eq!(store.delete_expired(99).unwrap(), 0);
        assert_eq!(store.delete_expired(100).unwrap(), 1);
        assert_eq!(
            store.object(&job.uid).unwrap().unwrap().deleted_at,
            Some(100)
        );
    });
}

#[test]
fn a_cron_time_is_decided_once() {
    on_both(|store| {
        let cron = object(Kind::CronJob, "tick", 1);
        let job = object(Kind::Job, "tick-1", 2);
        store
            .commit(&[
                Write::ObjectCreated(cron.clone()),
                Write::CronRun {
                    cronjob_uid: cron.uid.clone(),
                    scheduled: 1_000_000,
                    job_uid: Some(job.uid.clone()),
                },
                Write::ObjectCreated(job.clone()),
                Write::CronRun {
                    cronjob_uid: cron.uid.clone(),
                    scheduled: 2_000_000,
                    job_uid: None,
                },
            ])
            .unwrap();
        // A second decision of a decided time (a second node, a second
        // process) is refused, and nothing of its batch is written.
        let late = object(Kind::Job, "tick-1-again", 3);
        let refused = store.commit(&[
            Write::CronRun {
                cronjob_uid: cron.uid.clone(),
                scheduled: 1_000_000,
                job_uid: Some(late.uid.clone()),
            },
            Write::ObjectCreated(late.clone()),
        ]);
        assert!(
            matches!(refused, Err(super::StoreError::Conflict { .. })),
            "{refused:?}"
        );
        assert_eq!(store.object(&late.uid).unwrap(), None);
        // The same decision again (a retried batch) is no conflict.
        store
            .commit(&[Write::CronRun {
                cronjob_uid: cron.uid.clone(),
                scheduled: 1_000_000,
                job_uid: Some(job.uid.clone()),
            }])
            .unwrap();
        assert_eq!(
            store.cron_runs(&cron.uid).unwrap(),
            [(1_000_000, Some(job.uid.clone())), (2_000_000, None)]
        );
    });
}

// --- the cluster's own tables: PostgreSQL only ---

#[test]
fn nodes_register_heartbeat_and_go_not_ready() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = nodes(&db, dir.path(), ["node-a", "node-b"]);
    let labels = BTreeMap::from([("disk".to_owned(), "nvme".to_owned())]);
    let a_db = &*a.control_plane().unwrap();
    let b_db = &*b.control_plane().unwrap();
    a_db.register_node(&labels, 8, "127.0.0.1:1").unwrap();
    b_db.register_node(&BTreeMap::new(), 4, "127.0.0.1:2")
        .unwrap();
    // The first node's token is the cluster's.
    assert_eq!(a_db.cluster_setting("token", "aaa").unwrap(), "aaa");
    assert_eq!(b_db.cluster_setting("token", "bbb").unwrap(), "aaa");
    assert_eq!(b_db.cluster_setting("secret-key", "kb").unwrap(), "kb");
    assert_eq!(a_db.cluster_setting("secret-key", "ka").unwrap(), "kb");
    let nodes = a_db.nodes(Duration::from_secs(10)).unwrap();
    assert_eq!(
        nodes
            .iter()
            .map(|n| (&*n.name, n.ready, n.capacity))
            .collect::<Vec<_>>(),
        [("node-a", true, 8), ("node-b", true, 4)]
    );
    assert_eq!(nodes[0].labels, labels);
    // Another node's API relabels b; b reads its labels at its heartbeat.
    let relabeled = BTreeMap::from([("gpu".to_owned(), "yes".to_owned())]);
    assert!(a_db.set_node_labels("node-b", &relabeled).unwrap());
    assert!(!a_db.set_node_labels("node-z", &relabeled).unwrap());
    assert_eq!(b_db.heartbeat().unwrap().labels, Some(relabeled));
    db.silence("node-b", Duration::from_secs(60));
    let nodes = a_db.nodes(Duration::from_secs(30)).unwrap();
    assert_eq!(
        nodes
            .iter()
            .map(|n| (&*n.name, n.ready))
            .collect::<Vec<_>>(),
        [("node-a", true), ("node-b", false)]
    );
}

#[test]
fn an_object_is_claimed_by_one_node_and_taken_over_from_a_lost_one() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [mut a, b, c] = nodes(&db, dir.path(), ["node-a", "node-b", "node-c"]);
    for s in [&a, &b, &c] {
        s.control_plane()
            .unwrap()
            .register_node(&BTreeMap::new(), 4, "-")
            .unwrap();
    }
    let grace = Duration::from_secs(30);
    // Recorded by a: a owns it, nobody else may claim it.
    let job = object(Kind::Job, "owned", 1);
    let daemon_set = object(Kind::DaemonSet, "agent", 1);
    let mut daemon = instance(&daemon_set, "agent-x", 2);
    daemon.completion_index = None;
    a.commit(&[
        Write::ObjectCreated(job.clone()),
        Write::ObjectCreated(daemon_set.clone()),
        Write::Instance(daemon.clone()),
    ])
    .unwrap();
    let (b_db, c_db) = (&*b.control_plane().unwrap(), &*c.control_plane().unwrap());
    assert!(b_db.claimable(grace).unwrap().is_empty());
    assert!(b_db.claim(&job.uid, None, grace).unwrap().is_none());
    // a's lease is valid: nobody takes the Job from it.
    assert!(
        b_db.claim(&job.uid, Some("node-a"), grace)
            .unwrap()
            .is_none()
    );
    // a falls silent: b and c both see the Job; exactly one gets it, with
    // the end of a's lease as its fence.
    db.silence("node-a", Duration::from_secs(60));
    let seen = b_db.claimable(grace).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].owner.as_deref(), Some("node-a"));
    let won_b = b_db.claim(&job.uid, Some("node-a"), grace).unwrap();
    let won_c = c_db.claim(&job.uid, Some("node-a"), grace).unwrap();
    let won_b = won_b.expect("b takes the Job");
    assert!(won_c.is_none());
    assert_eq!(won_b.epoch, 1);
    assert!(
        won_b.fence.is_some_and(|f| f < crate::time::now()),
        "{won_b:?}"
    );
    let ownership = c_db.ownership(std::slice::from_ref(&job.uid)).unwrap();
    assert_eq!(ownership[0].owner.as_deref(), Some("node-b"));
    // The lost node's daemon instance ends and is removed.
    assert_eq!(c_db.drop_lost_daemons(grace, 50).unwrap(), 1);
    assert!(c.live_instances(None).unwrap().is_empty());
    let ended = &c.instances_of(&daemon_set.uid).unwrap()[0];
    assert_eq!(
        (ended.phase, ended.reason.as_deref()),
        (Phase::Failed, Some("NodeLost"))
    );
    // A finished Job is nobody's to claim; a released one is anyone's.
    b.control_plane().unwrap().release(&job.uid).unwrap();
    assert_eq!(c_db.claimable(grace).unwrap().len(), 1);
    let status = json!({"conditions": [{"type": "Complete", "status": "True"}]});
    a.commit(&[Write::ObjectStatus {
        uid: job.uid.clone(),
        status,
    }])
    .unwrap();
    assert!(c_db.claimable(grace).unwrap().is_empty());
}

/// An instance offered by its owner and claimed by another node.
fn offered(owner: &ObjectRecord, name: &str, at: i64) -> InstanceRecord {
    InstanceRecord {
        phase: Phase::Pending,
        node_name: String::new(),
        start_time: None,
        ..instance(owner, name, at)
    }
}

#[test]
fn what_an_owner_decides_about_an_instance_elsewhere_stands() {
    on_both(|store| {
        let job = object(Kind::Job, "wide", 1);
        let stopped = offered(&job, "wide-a", 2);
        let ran = offered(&job, "wide-b", 3);
        store
            .commit(&[
                Write::ObjectCreated(job.clone()),
                Write::Instance(stopped.clone()),
                Write::Instance(ran.clone()),
            ])
            .unwrap();
        // node-b claims both (as a claim writes them).
        let claimed = |i: &InstanceRecord| InstanceRecord {
            phase: Phase::Running,
            node_name: "node-b".into(),
            start_time: Some(5),
            ..i.clone()
        };
        store
            .commit(&[
                Write::Instance(claimed(&stopped)),
                Write::Instance(claimed(&ran)),
            ])
            .unwrap();
        // The owner stops one before it has seen the claim: the row keeps
        // the node that ran it and when it started.
        let mut stop = stopped.clone();
        let end =
            crate::controller::instance::stopped("Deleted", "stopped: the Job was deleted", None);
        stop.terminate(9, end);
        store.commit(&[Write::Instance(stop)]).unwrap();
        // node-b's end of it arrives late and changes nothing.
        let mut late = claimed(&stopped);
        late.phase = Phase::Succeeded;
        late.exit_code = Some(0);
        late.finish_time = Some(10);
        store.commit(&[Write::InstanceEnded(late)]).unwrap();
        // Another node's end, or an end of an older attempt, of the other
        // instance is not taken either; node-b's own is.
        let mut end = claimed(&ran);
        end.phase = Phase::Failed;
        end.exit_code = Some(3);
        end.reason = Some("Error".into());
        end.finish_time = Some(11);
        let elsewhere = InstanceRecord {
            node_name: "node-c".into(),
            ..end.clone()
        };
        let older = InstanceRecord {
            restart_count: 1,
            ..end.clone()
        };
        store
            .commit(&[Write::InstanceEnded(elsewhere), Write::InstanceEnded(older)])
            .unwrap();
        let row = |store: &Store, uid: &str| {
            let rows = store.instances_of(&job.uid).unwrap();
            rows.into_iter().find(|i| i.uid == uid).unwrap()
        };
        assert_eq!(row(store, &ran.uid).phase, Phase::Running);
        store.commit(&[Write::InstanceEnded(end.clone())]).unwrap();
        assert_eq!(row(store, &ran.uid), end);
        let row = row(store, &stopped.uid);
        assert_eq!(
            (row.phase, row.reason.as_deref(), row.node_name.as_str()),
            (Phase::Failed, Some("Deleted"), "node-b")
        );
        assert_eq!((row.start_time, row.finish_time), (Some(5), Some(9)));
    });
}

#[test]
fn offered_instances_are_claimed_once_by_the_nodes_that_ask() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [mut a, b, c] = nodes(&db, dir.path(), ["node-a", "node-b", "node-c"]);
    // c listens for the cluster's change notices.
    let noticed = std::sync::Arc::new(super::Noticed::default());
    let (wake, woken) = std::sync::mpsc::channel();
    let _listener = c
        .control_plane()
        .unwrap()
        .listen(noticed.clone(), Box::new(move || wake.send(()).is_ok()));
    woken.recv_timeout(Duration::from_secs(5)).unwrap(); // connected
    noticed.take();

    let job = object(Kind::Job, "wide", 1);
    let mut writes = vec![Write::ObjectCreated(job.clone())];
    let mut pinned = offered(&job, "wide-pinned", 2);
    pinned.node_name = "node-b".into();
    pinned.restart_count = 1;
    writes.push(Write::Instance(pinned.clone()));
    for n in 0..40 {
        writes.push(Write::Instance(offered(&job, &format!("wide-{n}"), 3 + n)));
    }
    a.commit(&writes).unwrap();
    woken.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(noticed.take().contains(super::Changes::OFFERED));

    let (b_db, c_db) = (&*b.control_plane().unwrap(), &*c.control_plane().unwrap());
    let seen = |db: &dyn super::ControlPlane| {
        let offers = db.offered().unwrap();
        offers
            .iter()
            .map(|o| (o.waiting, o.pinned))
            .collect::<Vec<_>>()
    };
    assert_eq!(seen(b_db), [(41, 1)]);
    assert_eq!(seen(c_db), [(40, 0)]);
    // What is offered to b alone comes first, then the oldest.
    let first = b_db
        .claim_offered(std::slice::from_ref(&job.uid), 2, 100)
        .unwrap();
    let names: Vec<&str> = first.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["wide-pinned", "wide-0"]);
    assert!(
        first
            .iter()
            .all(|i| i.phase == Phase::Running && i.node_name == "node-b")
    );
    assert_eq!(first[0].start_time, Some(100));

    // b and c claim the rest at the same moment: every instance once.
    let owners = vec![job.uid.clone()];
    let (left_b, left_c) = std::thread::scope(|s| {
        let b = s.spawn(|| {
            let mut got = Vec::new();
            loop {
                let claimed = b_db.claim_offered(&owners, 3, 200).unwrap();
                if claimed.is_empty() {
                    return got;
                }
                got.extend(claimed);
            }
        });
        let c = s.spawn(|| {
            let mut got = Vec::new();
            loop {
                let claimed = c_db.claim_offered(&owners, 3, 200).unwrap();
                if claimed.is_empty() {
                    return got;
                }
                got.extend(claimed);
            }
        });
        (b.join().unwrap(), c.join().unwrap())
    });
    let mut all: Vec<String> = first
        .iter()
        .chain(&left_b)
        .chain(&left_c)
        .map(|i| i.uid.clone())
        .collect();
    assert_eq!(all.len(), 41, "b {} c {}", left_b.len(), left_c.len());
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 41, "an instance was claimed twice");
    assert!(left_c.iter().all(|i| i.node_name == "node-c"));
    let rows = a.instances_of(&job.uid).unwrap();
    assert!(rows.iter().all(|i| i.phase == Phase::Running));
    assert!(b_db.offered().unwrap().is_empty());

    // b restarts: what it ran for a's Job ends, and a is told.
    noticed.take();
    let ended = b_db.end_orphaned(300, "NodeRestart", "restarted").unwrap();
    assert_eq!(ended, (first.len() + left_b.len()) as u64);
    woken.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(noticed.take().contains(super::Changes::ENDED));
    let rows = a.instances_of(&job.uid).unwrap();
    let restarted = rows
        .iter()
        .filter(|i| i.reason.as_deref() == Some("NodeRestart"));
    assert!(restarted.clone().all(|i| i.node_name == "node-b"));
    assert_eq!(restarted.count() as u64, ended);
    // a owns the Job: its own instances are its resume's to end.
    let mine = Write::Instance(InstanceRecord {
        node_name: "node-a".into(),
        ..instance(&job, "wide-mine", 500)
    });
    a.commit(&[mine]).unwrap();
    assert_eq!(
        a.control_plane()
            .unwrap()
            .end_orphaned(600, "NodeRestart", "-")
            .unwrap(),
        0
    );
}

#[test]
fn a_rolling_update_step_is_decided_by_one_node_at_a_time() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [mut a, b] = nodes(&db, dir.path(), ["node-a", "node-b"]);
    let ds = object(Kind::DaemonSet, "agent", 1);
    let on = |node: &str| InstanceRecord {
        node_name: node.into(),
        completion_index: None,
        ..instance(&ds, &format!("agent-{node}"), 2)
    };
    let (mine, theirs) = (on("node-a"), on("node-b"));
    a.commit(&[
        Write::ObjectCreated(ds.clone()),
        Write::Instance(mine.clone()),
        Write::Instance(theirs),
    ])
    .unwrap();
    let mut removed = mine.clone();
    removed.terminate(
        3,
        crate::controller::instance::stopped("Deleted", "replaced", None),
    );
    let step = [Write::Instance(removed)];
    let grace = Duration::from_secs(10);
    let (a_db, b_db) = (&*a.control_plane().unwrap(), &*b.control_plane().unwrap());
    // a decides slowly; b, asking meanwhile, waits and then sees a's step.
    // a signals once it holds the lock, so b asks while a decides (or, on a
    // slow machine, after: b sees a's step either way, never the state before).
    let (deciding, a_holds_the_lock) = std::sync::mpsc::channel();
    let seen_by_b = std::thread::scope(|s| {
        let a_step = s.spawn(|| {
            let mut approve = |_: &[_], instances: &[InstanceRecord]| {
                deciding.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(300));
                instances.len() == 2
            };
            a_db.rolling_step(&ds.uid, grace, &mut approve, &step)
                .unwrap()
        });
        a_holds_the_lock.recv().unwrap();
        let mut seen = 0;
        let mut approve = |nodes: &[super::NodeRecord], instances: &[InstanceRecord]| {
            assert!(nodes.is_empty(), "no node registered in this test");
            seen = instances.len();
            false
        };
        let taken = b_db
            .rolling_step(&ds.uid, grace, &mut approve, &[])
            .unwrap();
        assert!(!taken);
        assert!(a_step.join().unwrap());
        seen
    });
    assert_eq!(seen_by_b, 1);
    let rows = a.instances_of(&ds.uid).unwrap();
    let row = rows.iter().find(|i| i.uid == mine.uid).unwrap();
    assert_eq!(row.reason.as_deref(), Some("Deleted"));
}

#[test]
fn queue_items_held_by_unrecorded_instances_go_back_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut store = Store::open(&path).unwrap();
    // Nothing held (the usual start): nothing released, nothing written.
    assert_eq!(store.release_unrecorded_queue_items().unwrap(), 0);
    let queue = crate::queue::EmbeddedQueue::open(&path, "work").unwrap();
    queue.push([b"a".to_vec(), b"b".to_vec()]).unwrap();
    let job = object(Kind::Job, "worker", 1);
    let running = instance(&job, "worker-1", 1);
    store
        .commit(&[
            Write::ObjectCreated(job.clone()),
            Write::Instance(running.clone()),
        ])
        .unwrap();
    queue.lease(0, Some(&running.uid)).unwrap().unwrap();
    queue.lease(0, Some("never-recorded")).unwrap().unwrap();
    assert_eq!(queue.waiting(10).unwrap(), 0);
    // The item of the instance recorded as running stays with it.
    assert_eq!(store.release_unrecorded_queue_items().unwrap(), 1);
    assert_eq!(queue.waiting(10).unwrap(), 1);
    assert_eq!(store.release_unrecorded_queue_items().unwrap(), 0);
}

/// A new store on a file of its own, holding one Job.
fn a_job_in_a_new_store(
    name: &str,
) -> (tempfile::TempDir, std::path::PathBuf, Store, ObjectRecord) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut store = Store::open(&path).unwrap();
    let job = object(Kind::Job, name, 1);
    store.commit(&[Write::ObjectCreated(job.clone())]).unwrap();
    (dir, path, store, job)
}

/// `count` ended instances of `job`, each with a log of one page.
fn logged_instances(job: &ObjectRecord, prefix: &str, count: usize) -> Vec<Write> {
    (0..count)
        .map(|n| Write::InstanceLogged {
            instance: instance(job, &format!("{prefix}-{n}"), 2),
            log: vec![b'x'; 4096],
            truncated: false,
            times: Default::default(),
        })
        .collect()
}

/// The frames in the WAL of the database at `path`, as the next process
/// to open it reads them back.
fn wal_frames(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
        .unwrap()
}

#[test]
fn a_store_that_closes_with_a_large_wal_leaves_the_next_opener_one_frame() {
    let (_dir, path, mut store, job) = a_job_in_a_new_store("big");
    // 600 KiB of logs: past what is kept, short of a background checkpoint.
    store.commit(&logged_instances(&job, "big", 150)).unwrap();
    drop(store);
    assert_eq!(wal_frames(&path), 1, "the log started over with one frame");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.instances_of(&job.uid).unwrap().len(), 150);
}

/// `wasmjob run` leaves its connection to the exit: the WAL is started
/// over as a close would, and what was written is all there.
#[test]
fn a_store_closed_at_exit_leaves_the_wal_as_a_close_does() {
    let (_dir, path, mut store, job) = a_job_in_a_new_store("exit");
    store.commit(&logged_instances(&job, "exit", 150)).unwrap();
    store.close_at_exit();
    assert_eq!(wal_frames(&path), 1, "the log started over with one frame");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.instances_of(&job.uid).unwrap().len(), 150);
}

#[test]
fn a_store_that_closes_with_a_small_wal_leaves_it_as_it_is() {
    let (_dir, path, mut store, job) = a_job_in_a_new_store("small");
    let writes: Vec<Write> = (0..4)
        .map(|n| Write::Instance(instance(&job, &format!("small-{n}"), 2)))
        .collect();
    store.commit(&writes).unwrap();
    drop(store);
    // No checkpoint at close (its fsyncs would cost a short run more than
    // reading these frames back costs the next).
    let frames = wal_frames(&path);
    assert!(
        (2..super::WAL_KEPT as i64).contains(&frames),
        "{frames} frames"
    );
}

#[test]
fn a_writers_wal_is_checkpointed_in_the_background_while_it_writes() {
    let (_dir, path, mut store, job) = a_job_in_a_new_store("big");
    let before = std::fs::metadata(&path).unwrap().len();
    // Four MiB of logs: the WAL passes the background step several times.
    for batch in 0..8 {
        let writes = logged_instances(&job, &format!("big-{batch}"), 128);
        store.commit(&writes).unwrap();
    }
    // Nothing but the background thread copies pages into the file while
    // the store is open (the writer's own auto-checkpoint is replaced).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&path).unwrap().len() < before + (2 << 20) {
        assert!(
            std::time::Instant::now() < deadline,
            "no background checkpoint copied the WAL into the database file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(store.instances_of(&job.uid).unwrap().len(), 8 * 128);
}

#[test]
fn a_job_instances_labels_come_back_whole_from_what_its_row_keeps() {
    on_both(|store| {
        let job = object(Kind::Job, "labelled", 1);
        let template = BTreeMap::from([("app".to_owned(), "pi".to_owned())]);
        let mut plain = instance(&job, "labelled-1", 2);
        plain.completion_index = None;
        plain.labels =
            crate::controller::job::instance_labels(&template, "labelled", &job.uid, None).into();
        let mut indexed = instance(&job, "labelled-2", 3);
        indexed.labels =
            crate::controller::job::instance_labels(&template, "labelled", &job.uid, Some(3))
                .into();
        // Labels of another shape (a DaemonSet's, say) are kept as they are.
        let other = instance(&job, "labelled-3", 4);
        store
            .commit(&[
                Write::ObjectCreated(job.clone()),
                Write::Instance(plain.clone()),
                Write::Instance(indexed.clone()),
                Write::Instance(other.clone()),
            ])
            .unwrap();
        assert_eq!(
            store.instances_of(&job.uid).unwrap(),
            [plain, indexed, other]
        );
    });
}

#[test]
fn a_job_instances_row_keeps_its_template_labels_and_job_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    let job = object(Kind::Job, "kept", 1);
    let mut i = instance(&job, "kept-1", 2);
    i.labels =
        crate::controller::job::instance_labels(&BTreeMap::new(), "kept", &job.uid, Some(3)).into();
    store
        .commit(&[Write::ObjectCreated(job), Write::Instance(i.clone())])
        .unwrap();
    let (labels, job_name): (String, String) = store
        .local
        .conn
        .query_row(
            "SELECT labels, labels_job FROM instances WHERE uid = ?1",
            [&i.uid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((labels.as_str(), job_name.as_str()), ("{}", "kept"));
}

// --- a local-first node's records on their way to the cluster ---

/// Waits until `store` has sent everything it committed, or fails after
/// 20 s.
fn sent(store: &Store) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while store.unsent().unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "records were not sent"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The cluster's view, as a node's API reads it.
fn view(db: &TestDatabase, dir: &std::path::Path) -> Store {
    let file = dir.join("viewer.db");
    drop(Store::open(&file).unwrap());
    Store::cluster_readonly(&db.link("viewer"), &file).unwrap()
}

#[test]
fn a_nodes_records_reach_the_cluster_once_however_often_they_are_sent() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = Store::cluster(&db.link("node-a"), &dir.path().join("a.db")).unwrap();
    let job = object(Kind::Job, "sent", 1);
    let cron = object(Kind::CronJob, "tick", 1);
    let mut done = instance(&job, "sent-x", 2);
    done.terminate(
        3,
        crate::controller::instance::of_run(&crate::manifest::Outcome::Succeeded),
    );
    let event = EventRecord {
        object_uid: job.uid.clone(),
        kind: "Normal".into(),
        reason: "Completed".into(),
        message: "Job completed".into(),
        time: 4,
    };
    a.commit(&[
        Write::ObjectCreated(job.clone()),
        Write::ObjectCreated(cron.clone()),
        Write::InstanceLogged {
            instance: done.clone(),
            log: b"hello\n".to_vec(),
            truncated: false,
            times: Default::default(),
        },
        Write::Event(event.clone()),
        Write::CronRun {
            cronjob_uid: cron.uid.clone(),
            scheduled: 60_000_000,
            job_uid: Some(job.uid.clone()),
        },
    ])
    .unwrap();
    sent(&a);
    // Sent again — as after a crash between the cluster's commit and the
    // node's note that it was sent — nothing is doubled.
    let again = rusqlite::Connection::open(dir.path().join("a.db")).unwrap();
    again
        .execute_batch(
            "INSERT INTO outbox (kind, key) SELECT 'event', id FROM events;
             INSERT OR REPLACE INTO outbox (kind, key) SELECT 'instance', uid FROM instances;",
        )
        .unwrap();
    sent(&a);
    let cluster = view(&db, dir.path());
    assert_eq!(cluster.instances_of(&job.uid).unwrap(), [done.clone()]);
    assert_eq!(cluster.logs(&done.uid).unwrap(), [(0, b"hello\n".to_vec())]);
    assert_eq!(cluster.live_events(None).unwrap(), [event]);
    let runs = cluster.cron_runs(&cron.uid).unwrap();
    assert_eq!(runs, [(60_000_000, Some(job.uid.clone()))]);
    // A Job a node records joins the cluster as that node's, on a lease.
    let owner: Option<String> = db
        .client()
        .query_one("SELECT owner_node FROM objects WHERE uid = $1", &[&job.uid])
        .unwrap()
        .get(0);
    assert_eq!(owner.as_deref(), Some("node-a"));
}

#[test]
fn what_a_node_keeps_while_the_database_is_away_is_sent_when_it_answers() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A database that does not exist yet is as away as one that does not
    // answer: nothing is lost or left out meanwhile.
    let later = format!("{}_later", db.url.rsplit_once('/').unwrap().1);
    let link = super::ClusterLink {
        url: format!("{}/{later}", db.url.rsplit_once('/').unwrap().0),
        ..db.link("node-a")
    };
    let file = dir.path().join("a.db");
    let job = object(Kind::Job, "alone", 1);
    {
        let mut a = Store::cluster(&link, &file).unwrap();
        a.commit(&[Write::ObjectCreated(job.clone())]).unwrap();
        let mut x = instance(&job, "alone-x", 2);
        x.node_name = "node-a".into();
        a.commit(&[Write::Instance(x)]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(a.unsent().unwrap(), 2, "kept while the database is away");
        assert!(!a.link().unwrap().is_up());
        // The node stops (its records stay in its file).
    }
    db.client()
        .batch_execute(&format!("CREATE DATABASE {later}"))
        .unwrap();
    let a = Store::cluster(&link, &file).unwrap();
    sent(&a);
    assert!(a.link().unwrap().is_up());
    let cluster = Store::cluster_readonly(&link, &dir.path().join("a.db")).unwrap();
    assert_eq!(cluster.instances_of(&job.uid).unwrap().len(), 1);
    drop((a, cluster));
    db.client()
        .batch_execute(&format!("DROP DATABASE {later} WITH (FORCE)"))
        .unwrap();
}

#[test]
fn a_late_record_does_not_undo_what_another_node_decided_unless_it_keeps_the_original() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [c] = nodes(&db, dir.path(), ["node-c"]);
    c.control_plane()
        .unwrap()
        .register_node(&BTreeMap::new(), 4, "-")
        .unwrap();
    let mut b = Store::cluster(&db.link("node-b"), &dir.path().join("b.db")).unwrap();
    b.control_plane()
        .unwrap()
        .register_node(&BTreeMap::new(), 4, "-")
        .unwrap();
    let ds = object(Kind::DaemonSet, "agent", 1);
    let mut daemon = instance(&ds, "agent-b", 2);
    (daemon.node_name, daemon.completion_index) = ("node-b".into(), None);
    b.commit(&[
        Write::ObjectCreated(ds.clone()),
        Write::Instance(daemon.clone()),
    ])
    .unwrap();
    sent(&b);
    // b is away; c ends its instance.
    db.silence("node-b", Duration::from_secs(60));
    let c_db = c.control_plane().unwrap();
    assert_eq!(
        c_db.drop_lost_daemons(Duration::from_secs(30), 50).unwrap(),
        1
    );
    // b's later record of the instance, still running there, changes nothing.
    let mut later = daemon.clone();
    later.restart_count = 1;
    b.commit(&[Write::Instance(later.clone())]).unwrap();
    sent(&b);
    let row = |s: &Store| s.instances_of(&ds.uid).unwrap().remove(0);
    let cluster = view(&db, dir.path());
    assert_eq!(row(&cluster).reason.as_deref(), Some("NodeLost"));
    // keepOriginal: b takes its instance back; then its record stands.
    let b_db = b.control_plane().unwrap();
    assert_eq!(b_db.revive(std::slice::from_ref(&daemon.uid)).unwrap(), 1);
    b.commit(&[Write::Instance(later.clone())]).unwrap();
    sent(&b);
    assert_eq!(row(&cluster), later);
}

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

/// An object record for tests.
pub(crate) fn object(kind: Kind, name: &str, at: i64) -> ObjectRecord {
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

/// A running instance record of `owner` for tests.
pub(crate) fn instance(owner: &ObjectRecord, name: &str, at: i64) -> InstanceRecord {
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
                    pulled_from: None,
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
                    replaces: None,
                },
                Write::ObjectCreated(job.clone()),
                Write::CronRun {
                    cronjob_uid: cron.uid.clone(),
                    scheduled: 2_000_000,
                    job_uid: None,
                    replaces: None,
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
                replaces: None,
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
                replaces: None,
            }])
            .unwrap();
        assert_eq!(
            store.cron_runs(&cron.uid).unwrap(),
            [(1_000_000, Some(job.uid.clone())), (2_000_000, None)]
        );
    });
}

#[test]
fn a_backfill_runs_a_missed_time_once_and_a_rerun_replaces_what_it_saw() {
    on_both(|store| {
        let cron = object(Kind::CronJob, "tick", 1);
        let decide = |scheduled: i64, job: Option<&str>, replaces: Option<&str>| Write::CronRun {
            cronjob_uid: cron.uid.clone(),
            scheduled,
            job_uid: job.map(str::to_owned),
            replaces: replaces.map(str::to_owned),
        };
        store
            .commit(&[Write::ObjectCreated(cron.clone()), decide(1, None, None)])
            .unwrap();
        // A time recorded as missed runs once; a second run of it is refused.
        store.commit(&[decide(1, Some("job-a"), None)]).unwrap();
        let again = store.commit(&[decide(1, Some("job-b"), None)]);
        assert!(
            matches!(again, Err(super::StoreError::Conflict { .. })),
            "{again:?}"
        );
        // A rerun replaces the Job it saw; one that saw another is refused.
        store
            .commit(&[decide(1, Some("job-c"), Some("job-a"))])
            .unwrap();
        let stale = store.commit(&[decide(1, Some("job-d"), Some("job-a"))]);
        assert!(
            matches!(stale, Err(super::StoreError::Conflict { .. })),
            "{stale:?}"
        );
        // The same rerun again (a retried batch) is no conflict.
        store
            .commit(&[decide(1, Some("job-c"), Some("job-a"))])
            .unwrap();
        assert_eq!(
            store.cron_runs(&cron.uid).unwrap(),
            [(1, Some("job-c".into()))]
        );
    });
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

mod control;
mod file;
mod forward;
mod logs;

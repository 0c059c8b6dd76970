//! A local-first node's records on their way to the cluster.

use super::*;

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
            replaces: None,
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
    let link = crate::store::ClusterLink {
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

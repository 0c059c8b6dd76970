//! The cluster's own tables, PostgreSQL only: nodes, claims, offers and
//! rolling update steps.

use super::*;

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
    assert_eq!(c.unfinished_instances_of(&daemon_set.uid).unwrap(), 1);
    assert_eq!(c_db.drop_lost_daemons(grace, 50).unwrap(), 1);
    assert_eq!(c.unfinished_instances_of(&daemon_set.uid).unwrap(), 0);
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
    let noticed = std::sync::Arc::new(crate::store::Noticed::default());
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
    assert!(noticed.take().contains(crate::store::Changes::OFFERED));

    let (b_db, c_db) = (&*b.control_plane().unwrap(), &*c.control_plane().unwrap());
    let seen = |db: &dyn crate::store::ControlPlane| {
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
    assert!(noticed.take().contains(crate::store::Changes::ENDED));
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
        let mut approve = |nodes: &[crate::store::NodeRecord], instances: &[InstanceRecord]| {
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
fn quota_shares_of_ready_nodes_never_sum_past_the_quota() {
    use crate::access::quota_share::{Amount, Ask, Hard};
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [a, b, c] = nodes(&db, dir.path(), ["node-a", "node-b", "node-c"]);
    let planes: Vec<_> = [&a, &b, &c]
        .iter()
        .map(|s| s.control_plane().unwrap())
        .collect();
    for plane in &planes {
        plane.register_node(&BTreeMap::new(), 4, "-").unwrap();
    }
    let grace = Duration::from_secs(10);
    let ask = |held: i64, waiting: i64| Ask {
        namespace: "team".into(),
        hard: Hard {
            pods: Some(4),
            memory: None,
        },
        held: Amount::of(held, 0),
        waiting: Amount::of(waiting, 0),
    };
    let mine = |plane: usize, held, waiting| {
        let shares = planes[plane]
            .share_quotas(&[ask(held, waiting)], grace)
            .unwrap();
        assert_eq!(shares.len(), 1);
        shares[0].1
    };
    // a waits for 3, b for 3: b gets what a left.
    assert_eq!(mine(0, 0, 3).mine.pods, 3);
    let b_share = mine(1, 0, 3);
    assert_eq!((b_share.mine.pods, b_share.elsewhere.pods), (1, 3));
    // Three nodes asking at once, from threads: never past the quota.
    std::thread::scope(|scope| {
        for plane in &planes {
            scope.spawn(move || {
                for _ in 0..20 {
                    plane.share_quotas(&[ask(0, 4)], grace).unwrap();
                }
            });
        }
    });
    let sum: i64 = db
        .client()
        .query_one("SELECT sum(pods)::bigint FROM quota_shares", &[])
        .unwrap()
        .get(0);
    assert!(sum <= 4, "{sum}");
    // a waits for nothing: its share falls to what it holds, and c takes
    // the rest.
    mine(0, 0, 0);
    mine(1, 0, 0);
    assert_eq!(mine(2, 0, 4).mine.pods, 4);
    // c goes silent: the others no longer count its share.
    db.silence("node-c", Duration::from_secs(60));
    assert_eq!(mine(0, 1, 3).mine.pods, 4);
    // A node that asks for nothing forgets its shares.
    planes[1].share_quotas(&[], grace).unwrap();
    let left: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM quota_shares WHERE node = 'node-b'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

//! A node's own file: queue items held at start, its WAL at close and
//! while it writes.

use super::*;

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

#[test]
fn a_copy_from_the_cluster_never_undoes_an_end_the_file_records() {
    let (_dir, _path, mut store, job) = a_job_in_a_new_store("taken-over");
    // Taken over: the lost owner's instance is copied running, then ended.
    let running = instance(&job, "taken-over-1", 1);
    store.mirror(&[Write::Instance(running.clone())]).unwrap();
    let mut lost = running.clone();
    (lost.phase, lost.reason, lost.finish_time) = (Phase::Failed, Some("NodeLost".into()), Some(5));
    store.commit(&[Write::Instance(lost.clone())]).unwrap();
    // The cluster's older row, read again, leaves the end as it is ...
    store.mirror(&[Write::Instance(running.clone())]).unwrap();
    assert_eq!(store.instances_of(&job.uid).unwrap(), vec![lost.clone()]);
    assert_eq!(store.unfinished_instances_of(&job.uid).unwrap(), 0);
    // ... while a later attempt, or an end, is copied.
    let mut again = running.clone();
    again.restart_count = 1;
    store.mirror(&[Write::Instance(again.clone())]).unwrap();
    assert_eq!(store.instances_of(&job.uid).unwrap(), vec![again.clone()]);
    assert_eq!(store.unfinished_instances_of(&job.uid).unwrap(), 1);
    let mut done = again;
    (done.phase, done.finish_time) = (Phase::Succeeded, Some(9));
    store.mirror(&[Write::Instance(done.clone())]).unwrap();
    assert_eq!(store.instances_of(&job.uid).unwrap(), vec![done]);
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
        (2..crate::store::WAL_KEPT as i64).contains(&frames),
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
fn a_nodes_quota_shares_outlive_a_restart_in_its_own_file() {
    use crate::access::quota_share::{Amount, Share};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = Store::open(&path).unwrap();
    assert!(store.quota_shares().unwrap().is_empty());
    let share = Share {
        mine: Amount::of(2, 64 << 20),
        elsewhere: Amount::of(1, 0),
    };
    let shares = BTreeMap::from([("team".to_owned(), share)]);
    store.keep_quota_shares(&shares).unwrap();
    drop(store);
    assert_eq!(Store::open(&path).unwrap().quota_shares().unwrap(), shares);
}

#[test]
fn a_commit_asked_to_stop_commits_what_it_applied_or_nothing() {
    let (_dir, _path, store, job) = a_job_in_a_new_store("stopped");
    let writes: Vec<Write> = (0..100)
        .map(|n| Write::Instance(instance(&job, &format!("s-{n}"), 1)))
        .collect();
    let mut committer = store.committer().unwrap().expect("a node's own file");
    // Asked at its first look, and told to drop what it applied: nothing.
    assert_eq!(committer.commit_until(&writes, &|| true, true).unwrap(), 0);
    assert!(store.instances_of(&job.uid).unwrap().is_empty());
    // Told to keep it: what it applied before its first look, in order.
    let kept = committer.commit_until(&writes, &|| true, false).unwrap();
    assert!(kept > 0 && kept < writes.len(), "{kept}");
    assert_eq!(store.instances_of(&job.uid).unwrap().len(), kept);
    // Never asked: the rest.
    let rest = committer.commit_until(&writes[kept..], &|| false, true);
    assert_eq!(rest.unwrap(), writes.len() - kept);
    assert_eq!(store.instances_of(&job.uid).unwrap().len(), writes.len());
}

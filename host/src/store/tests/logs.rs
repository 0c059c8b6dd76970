//! Attempts' output and structured records, on both stores.

use super::*;

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
        let timed = store.logs_timed(&i.uid).unwrap();
        assert_eq!(timed[1], (1, b"second\n".to_vec(), second_times.clone()));
        assert!(timed[0].2.is_empty());
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
        let stmt = store.local.conn.prepare_cached(crate::store::LOGS).unwrap();
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

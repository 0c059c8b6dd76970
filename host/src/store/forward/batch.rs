//! What a cluster node sends the cluster's database in one go: the latest
//! state of every record its outbox names, read from the node's file when
//! it is sent (see `sqlite::outbox`) and written there in one transaction
//! (see `postgres::forwarded`).

use crate::runtime::LogRecord;
use crate::store::{EventRecord, InstanceRecord, ObjectRecord};
use crate::time::Micros;

/// The kinds of record an outbox entry names.
pub(in crate::store) mod kind {
    /// An object's row (status, deletion, expiry; a new one whole).
    pub const OBJECT: &str = "object";
    /// An instance's row this node decided (its own Jobs', its daemons').
    pub const INSTANCE: &str = "instance";
    /// An instance this node ran for another node's Job: its end stands
    /// only where that Job's owner has not decided otherwise.
    pub const HOSTED: &str = "hosted";
    /// One attempt's output (`uid\tattempt`).
    pub const LOG: &str = "log";
    /// One attempt's structured log records (`uid\tattempt`).
    pub const RECORDS: &str = "records";
    /// An event (its row id in the node's file).
    pub const EVENT: &str = "event";
    /// A CronJob's decided time (`uid\tscheduled`).
    pub const CRON: &str = "cron";
}

/// An instance's row as sent.
#[derive(Debug, Clone)]
pub(in crate::store) struct SentInstance {
    /// The row.
    pub record: InstanceRecord,
    /// When it was removed from `get instances`, if it was.
    pub deleted_at: Option<Micros>,
    /// What it gets on stdin, when offered with a work-queue item.
    pub stdin: Option<Vec<u8>>,
    /// Run here for another node's Job (see [`kind::HOSTED`]).
    pub hosted: bool,
}

/// One attempt's output as sent.
#[derive(Debug, Clone)]
pub(in crate::store) struct SentLog {
    pub instance_uid: String,
    pub attempt: u32,
    pub data: Vec<u8>,
    pub truncated: bool,
    /// When each line began (`runtime::line_times`, stored form).
    pub times: Option<Vec<u8>>,
}

/// Records to send, and the outbox entries they settle.
#[derive(Debug, Default)]
pub(in crate::store) struct Batch {
    /// The outbox entries read; removed once the batch is committed.
    pub seqs: Vec<i64>,
    /// Objects, with their expiry time.
    pub objects: Vec<(ObjectRecord, Option<Micros>)>,
    pub instances: Vec<SentInstance>,
    pub logs: Vec<SentLog>,
    /// (instance, attempt, records).
    pub records: Vec<(String, u32, Vec<LogRecord>)>,
    /// (row id in the node's file, event).
    pub events: Vec<(i64, EventRecord)>,
    /// (CronJob, scheduled time, Job).
    pub cron_runs: Vec<(String, Micros, Option<String>)>,
}

impl Batch {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// The same records, one batch each (its entries settled by the
    /// whole batch's).
    pub fn singles(&self) -> Vec<Batch> {
        let mut singles = Vec::new();
        let one = || Batch::default();
        for o in &self.objects {
            singles.push(Batch {
                objects: vec![o.clone()],
                ..one()
            });
        }
        for i in &self.instances {
            singles.push(Batch {
                instances: vec![i.clone()],
                ..one()
            });
        }
        for l in &self.logs {
            singles.push(Batch {
                logs: vec![l.clone()],
                ..one()
            });
        }
        for r in &self.records {
            singles.push(Batch {
                records: vec![r.clone()],
                ..one()
            });
        }
        for e in &self.events {
            singles.push(Batch {
                events: vec![e.clone()],
                ..one()
            });
        }
        for c in &self.cron_runs {
            singles.push(Batch {
                cron_runs: vec![c.clone()],
                ..one()
            });
        }
        singles
    }
}

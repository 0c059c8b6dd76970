//! The records the store keeps — objects, instances, events — and the
//! writes that change them, whatever the backend.

use crate::runtime::line_times::LineTimes;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::manifest::{Kind, Phase, Termination};
use crate::time::Micros;

/// A stored object: the applied manifest and its status.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRecord {
    /// The object's uid.
    pub uid: String,
    /// Its kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// The normalized manifest (`metadata` and `spec`) as JSON.
    pub manifest: serde_json::Value,
    /// The status as JSON, in Kubernetes' shape.
    pub status: serde_json::Value,
    /// When it was created.
    pub created_at: Micros,
    /// When it was deleted, for history rows.
    pub deleted_at: Option<Micros>,
}

/// A stored object whose manifest and status are kept as the JSON text
/// stored: for listings that pass them on without looking inside, which
/// for a thousand Jobs is most of the work saved.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectText {
    /// The object's uid.
    pub uid: String,
    /// Its kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// The manifest (`metadata` and `spec`), as JSON text.
    pub manifest: String,
    /// The status, as JSON text.
    pub status: String,
    /// When it was created.
    pub created_at: Micros,
}

/// A stored instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    /// The instance's uid.
    pub uid: String,
    /// Its generated name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// The owning object's uid.
    pub owner_uid: String,
    /// For Indexed Jobs.
    pub completion_index: Option<u32>,
    /// Template labels plus the Job labels, shared by a Job's instances
    /// (an Indexed Job's differ by their index label).
    pub labels: Arc<BTreeMap<String, String>>,
    /// Where it is in its life.
    pub phase: Phase,
    /// The exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Why it failed.
    pub reason: Option<String>,
    /// The detail of the failure.
    pub message: Option<String>,
    /// The node it ran on.
    pub node_name: String,
    /// In-place restarts so far.
    pub restart_count: u32,
    /// When it was created.
    pub created_at: Micros,
    /// When it started running.
    pub start_time: Option<Micros>,
    /// When it ended.
    pub finish_time: Option<Micros>,
    /// In a cluster, the chain this instance is a link of (see
    /// [`ChainLink`]).
    pub chain: Option<ChainLink>,
}

/// A link of a *chain*: an instance a Job's owner offers with a budget of
/// completions, which the node that runs it follows, on each success, with
/// the next instance of the chain itself — without a round trip to the
/// owner, who learns of each from its row (see `runner::jobs::chains`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    /// The chain's first instance: its uid names the chain.
    pub head: String,
    /// The completions this instance and those after it in the chain may
    /// still make, this one included.
    pub budget: u32,
}

impl InstanceRecord {
    /// The instance ended at `at` as `end` says (see
    /// [`crate::controller::instance`] for which end is which).
    pub fn terminate(&mut self, at: Micros, end: Termination) {
        self.finish_time = Some(at);
        self.phase = end.phase;
        self.exit_code = end.exit_code;
        self.reason = end.reason;
        self.message = end.message;
    }
}

/// An event about an object, for `describe`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// The object it is about.
    pub object_uid: String,
    /// `Normal` or `Warning`.
    pub kind: String,
    /// `SuccessfulCreate`, `Completed`, `BackoffLimitExceeded`, …
    pub reason: String,
    /// The sentence shown.
    pub message: String,
    /// When it happened.
    pub time: Micros,
}

/// One change to the store.
#[derive(Debug, Clone)]
pub enum Write {
    /// A new object; a live one of the same kind and name is moved to history.
    ObjectCreated(ObjectRecord),
    /// A module's bytes (idempotent).
    Module {
        /// `sha256:<hex>`.
        digest: String,
        /// A component rather than a core module.
        component: bool,
        /// The bytes.
        bytes: Vec<u8>,
        /// When it was first stored.
        at: Micros,
        /// The pinned registry reference the bytes were pulled from, if
        /// any: a cluster's database does not keep such a module, since
        /// every node pulls it for itself (see `apply::pull_pinned`).
        pulled_from: Option<String>,
    },
    /// An updated manifest (mutable fields only).
    ObjectManifest {
        /// The object.
        uid: String,
        /// The new manifest.
        manifest: serde_json::Value,
        /// The new labels.
        labels: BTreeMap<String, String>,
    },
    /// The object is deleted now; its rows stay as history.
    ObjectDeleted {
        /// The object.
        uid: String,
        /// When.
        at: Micros,
    },
    /// A CronJob's scheduled time was decided: started as `job_uid`, or
    /// missed (`None`). A time already decided otherwise is a conflict,
    /// but for two changes a backfill makes: a time recorded as missed
    /// may be run once, and `replaces` names the Job a rerun replaces
    /// (the time's row must still hold it).
    CronRun {
        /// The CronJob.
        cronjob_uid: String,
        /// The scheduled time.
        scheduled: Micros,
        /// The Job created for it.
        job_uid: Option<String>,
        /// The Job of the time this run replaces (`backfill --rerun`).
        replaces: Option<String>,
    },
    /// An object's new status.
    ObjectStatus {
        /// The object.
        uid: String,
        /// Its status JSON.
        status: serde_json::Value,
    },
    /// The object is deleted at `at` (`ttlSecondsAfterFinished`); its rows
    /// stay as history.
    ObjectExpiry {
        /// The object.
        uid: String,
        /// When it expires.
        at: Micros,
    },
    /// A new instance, or a new state of an existing one (upsert by uid).
    /// An empty `node_name` or a missing `start_time` keep what the row has:
    /// the owner of an instance that another node claimed may not have seen
    /// the claim yet.
    Instance(InstanceRecord),
    /// An instance that ended, with its first attempt's output: one row
    /// where an [`Write::Instance`] and a [`Write::Log`] would write two (the
    /// runner records most instances so). Upsert by uid, as `Instance`.
    InstanceLogged {
        /// The instance, as it ended.
        instance: InstanceRecord,
        /// Its first attempt's stdout and stderr, interleaved.
        log: Vec<u8>,
        /// Whether output was dropped.
        truncated: bool,
        /// When each line of `log` began.
        times: LineTimes,
    },
    /// An instance this node ran for another node's Job ended. Written only
    /// while the row still says it runs here in this attempt: the Job's
    /// owner may meanwhile have stopped it or found this node lost, and
    /// what the owner decided stands.
    InstanceEnded(InstanceRecord),
    /// What an offered instance gets on stdin (its work-queue item), for the
    /// node that claims it. A single node hands the item to its instance
    /// in memory: the SQLite store keeps nothing.
    InstanceInput {
        /// The instance.
        uid: String,
        /// Its stdin.
        stdin: Vec<u8>,
    },
    /// The instance was removed (a DaemonSet's, replaced or off its node);
    /// its row and logs stay as history.
    InstanceDeleted {
        /// The instance.
        uid: String,
        /// When.
        at: Micros,
    },
    /// One attempt's output.
    Log {
        /// The instance.
        instance_uid: String,
        /// The attempt, 0 first.
        attempt: u32,
        /// stdout and stderr interleaved.
        data: Vec<u8>,
        /// Whether output was dropped.
        truncated: bool,
        /// When each line of `data` began.
        times: LineTimes,
    },
    /// An event.
    Event(EventRecord),
    /// One attempt's structured log records (`wasmjob:plugin/log`).
    LogRecords {
        /// The instance.
        instance_uid: String,
        /// The attempt, 0 first.
        attempt: u32,
        /// The records, in order.
        records: Vec<crate::runtime::LogRecord>,
    },
    /// An embedded-queue item is done: deleted in the same transaction
    /// that records the success of the instance that processed it.
    QueueDone {
        /// The item's lease id (`<row>.<token>`).
        item_id: String,
    },
}

impl Write {
    /// Whether this write only creates something — an object, a CronJob's
    /// decided time, a module — that no write staged before it can touch:
    /// it may commit ahead of them (see `runner::writer`).
    pub fn only_creates(&self) -> bool {
        matches!(
            self,
            Write::ObjectCreated(_) | Write::CronRun { .. } | Write::Module { .. }
        )
    }

    /// Whether a promise rests on this write being durable before the runner
    /// goes on: a CronJob's decided time (never run twice), an object's
    /// creation, change or deletion (what a client was told), a module. An
    /// instance's records, logs, events and status may wait for the next
    /// group commit.
    pub fn is_urgent(&self) -> bool {
        match self {
            Write::ObjectCreated(_)
            | Write::Module { .. }
            | Write::ObjectManifest { .. }
            | Write::ObjectDeleted { .. }
            | Write::CronRun { .. }
            | Write::ObjectExpiry { .. } => true,
            Write::ObjectStatus { .. }
            | Write::Instance(_)
            | Write::InstanceLogged { .. }
            | Write::InstanceEnded(_)
            | Write::InstanceInput { .. }
            | Write::InstanceDeleted { .. }
            | Write::Log { .. }
            | Write::Event(_)
            | Write::LogRecords { .. }
            | Write::QueueDone { .. } => false,
        }
    }
}

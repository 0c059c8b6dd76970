//! The history store: objects (spec, status, labels), instances, every
//! attempt's logs, events, CronJob runs and module bytes, behind one
//! interface, [`Store`], whose callers never learn which backend holds the
//! records.
//!
//! - `sqlite`: a node's own file (rusqlite, WAL mode, versioned
//!   migrations) — the whole history of a single node, and in a cluster
//!   what stays on the node (checkpoints, the embedded queue).
//! - `postgres`: the database a cluster's nodes share, which then holds the
//!   records, and the [`ControlPlane`] they coordinate through (nodes,
//!   ownership, offers, rolling update steps).
//!
//! Both read through one trait (`backend::Records`) and apply the same
//! [`Write`]s. Writes arrive as batches committed in one transaction, so a
//! Job of ten thousand instances costs a few hundred commits, not ten
//! thousand. SQLite's `synchronous = NORMAL` in WAL mode survives a crash of
//! the process without an fsync per commit; a power cut may lose the last
//! commits, never corrupt.

mod backend;
mod checkpoints;
mod control;
mod error;
mod labels;
mod postgres;
mod records;
mod sqlite;
#[cfg(test)]
pub mod tests;

pub use checkpoints::Checkpoints;
pub use control::{
    Approval, Changes, Claimable, ControlPlane, Listening, NodeRecord, Noticed, Offered, Ownership,
};
pub use error::StoreError;
pub use postgres::redact as redact_url;
pub use records::{EventRecord, InstanceRecord, ObjectRecord, ObjectText, Write};
pub(crate) use sqlite::configure_connection;
#[cfg(test)]
use sqlite::{LOGS, WAL_KEPT};

use std::path::Path;
use std::sync::Arc;

use backend::Records;
use postgres::Pg;
use sqlite::Sqlite;

use crate::manifest::Kind;
use crate::runtime::LogRecord;
use crate::time::Micros;

/// Which live instances a query is about, when it names them: lets the
/// store use an index instead of reading every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceScope<'a> {
    /// Every instance.
    All,
    /// Those of the live Job(s) of this name.
    OfJob(&'a str),
    /// The instance(s) of this name.
    Named(&'a str),
}

/// An open store: the node's SQLite file, and in a cluster the cluster's
/// database, which then holds the records.
pub struct Store {
    /// The node's own file. In cluster mode it keeps what stays on the
    /// node: checkpoints and the embedded queue.
    local: Sqlite,
    /// The cluster's database, which then holds everything else.
    shared: Option<Arc<Pg>>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let local = Sqlite::open(path)?;
        Ok(Store {
            local,
            shared: None,
        })
    }

    /// Opens an existing database for reading only (the API's connections);
    /// the node's runner is the one writer.
    pub fn open_readonly(path: &Path) -> Result<Self, StoreError> {
        let local = Sqlite::open_readonly(path)?;
        Ok(Store {
            local,
            shared: None,
        })
    }

    /// A node of a cluster: records in the cluster's PostgreSQL database
    /// at `url`, as node `node`; `local` is the node's own SQLite file
    /// (opened as [`Store::open`] does) for checkpoints and the embedded
    /// queue.
    pub fn cluster(url: &str, node: &str, local: &Path) -> Result<Self, StoreError> {
        let mut store = Store::open(local)?;
        store.shared = Some(Arc::new(Pg::connect(url, node)?));
        Ok(store)
    }

    /// A reader of the cluster's database (the API's connections).
    pub fn cluster_readonly(url: &str, node: &str, local: &Path) -> Result<Self, StoreError> {
        let mut store = Store::open_readonly(local)?;
        store.shared = Some(Arc::new(Pg::connect(url, node)?));
        Ok(store)
    }

    /// The control plane of the cluster this store is shared by, if it is.
    pub fn control_plane(&self) -> Option<Arc<dyn ControlPlane>> {
        let shared = self.shared.clone()?;
        Some(shared)
    }

    /// The backend that holds the records.
    fn records(&self) -> &dyn Records {
        match &self.shared {
            Some(shared) => &**shared,
            None => &self.local,
        }
    }

    /// The database file (the node's own file in cluster mode).
    pub fn path(&self) -> &Path {
        self.local.path()
    }

    /// Reads every page of the node's file and checks its structure
    /// (SQLite's `quick_check`): what `serve` does at start, so a damaged
    /// history is found before the node runs anything rather than halfway
    /// through a Job. Linear in the size of the file.
    pub fn check(&self) -> Result<(), StoreError> {
        self.local.check()
    }

    /// Closes the store of a process that exits next: the WAL is left as
    /// dropping the store leaves it, but the connection is not closed,
    /// since the exit releases its locks and files. Closing it changes
    /// nothing in the files (the connection skips SQLite's checkpoint on
    /// close), and freeing its page cache and statements and unmapping the
    /// WAL index was 7% of a one-instance `wasmjob run`.
    pub fn close_at_exit(self) {
        self.local.close_log();
        std::mem::forget(self);
    }

    /// At a runner's start: embedded-queue items held by instances the
    /// node's file does not record as running go back (see
    /// [`crate::queue::EmbeddedQueue::release_unrecorded`]).
    pub fn release_unrecorded_queue_items(&self) -> Result<usize, StoreError> {
        self.local.release_unrecorded_queue_items()
    }

    /// Commits a batch of writes in one transaction. In a cluster, what
    /// stays on the node (an embedded queue's items done) is committed to
    /// its own file once the cluster has the rest.
    pub fn commit(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let Some(shared) = &self.shared else {
            return self.local.commit(writes);
        };
        shared.commit(writes)?;
        let local: Vec<Write> = writes
            .iter()
            .filter(|w| matches!(w, Write::QueueDone { .. }))
            .cloned()
            .collect();
        match local.is_empty() {
            true => Ok(()),
            false => self.local.commit(&local),
        }
    }

    /// Stores module bytes under their digest (idempotent).
    pub fn put_module(
        &self,
        digest: &str,
        component: bool,
        bytes: &[u8],
        now: Micros,
    ) -> Result<(), StoreError> {
        self.records().put_module(digest, component, bytes, now)
    }

    /// The bytes of a stored module.
    pub fn module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.records().module(digest)
    }

    /// The live object of this kind and name, if any.
    pub fn live_object(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        self.records().live_object(kind, namespace, name)
    }

    /// Every live object of a kind, in one namespace or all, oldest first.
    pub fn live_objects(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectRecord>, StoreError> {
        self.records().live_objects(kind, namespace)
    }

    /// As [`Store::live_objects`], with manifests and statuses as the JSON
    /// text stored, for listings that pass them on unread.
    pub fn live_objects_text(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectText>, StoreError> {
        self.records().live_objects_text(kind, namespace)
    }

    /// Every instance of live objects, in one namespace or all, oldest first.
    pub fn live_instances(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<InstanceRecord>, StoreError> {
        self.records()
            .live_instances_in(namespace, InstanceScope::All)
    }

    /// The instances of live objects that may match `scope`, in one namespace
    /// or all, oldest first: an index lookup for a Job's or one instance's
    /// name, so a query about one Job costs the same whatever the history.
    pub fn live_instances_in(
        &self,
        namespace: Option<&str>,
        scope: InstanceScope<'_>,
    ) -> Result<Vec<InstanceRecord>, StoreError> {
        self.records().live_instances_in(namespace, scope)
    }

    /// Events of live objects in a namespace (or all), oldest first.
    pub fn live_events(&self, namespace: Option<&str>) -> Result<Vec<EventRecord>, StoreError> {
        self.records().live_events(namespace)
    }

    /// An object by uid, live or deleted.
    pub fn object(&self, uid: &str) -> Result<Option<ObjectRecord>, StoreError> {
        self.records().object(uid)
    }

    /// Every instance an object owns, oldest first.
    pub fn instances_of(&self, owner_uid: &str) -> Result<Vec<InstanceRecord>, StoreError> {
        self.records().instances_of(owner_uid)
    }

    /// Every attempt's log of an instance, oldest first: (attempt, bytes).
    pub fn logs(&self, instance_uid: &str) -> Result<Vec<(u32, Vec<u8>)>, StoreError> {
        self.records().logs(instance_uid)
    }

    /// An instance's structured log records, by attempt then order.
    pub fn log_records(&self, instance_uid: &str) -> Result<Vec<(u32, LogRecord)>, StoreError> {
        self.records().log_records(instance_uid)
    }

    /// A CronJob's decided times, oldest first: (scheduled time, Job uid if
    /// one was started).
    pub fn cron_runs(
        &self,
        cronjob_uid: &str,
    ) -> Result<Vec<(Micros, Option<String>)>, StoreError> {
        self.records().cron_runs(cronjob_uid)
    }

    /// Deletes every live object whose `ttlSecondsAfterFinished` ran out by
    /// `now`, as of its expiry time; returns how many. The rows stay as history.
    pub fn delete_expired(&self, now: Micros) -> Result<usize, StoreError> {
        self.records().delete_expired(now)
    }
}

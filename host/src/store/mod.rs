//! The history store: objects (spec, status, labels), instances, every
//! attempt's logs, events, CronJob runs and module bytes, behind one
//! interface, [`Store`], whose callers never learn which backend holds the
//! records.
//!
//! - `sqlite`: a node's own file (rusqlite, WAL mode, versioned
//!   migrations) — the whole history of a single node, and in a cluster
//!   the truth about what the node runs: a cluster node writes its file
//!   first and keeps working when the cluster's database does not answer.
//! - `postgres`: the database a cluster's nodes share — the cluster's view
//!   of every node's records, which each node's `forward` thread sends in
//!   batches from its outbox, and the [`ControlPlane`] they coordinate
//!   through (nodes, leases, offers, rolling update steps).
//!
//! Both read through one trait (`backend::Records`) and apply the same
//! [`Write`]s. Writes arrive as batches committed in one transaction, so a
//! Job of ten thousand instances costs a few hundred commits, not ten
//! thousand. SQLite's `synchronous = NORMAL` in WAL mode survives a crash of
//! the process without an fsync per commit; a power cut may lose the last
//! commits, never corrupt.

mod backend;
mod checkpoints;
pub mod commits;
mod committer;
mod control;
mod error;
mod forward;
mod keyvalue;
mod labels;
mod postgres;
mod records;
mod side;
mod sqlite;
#[cfg(test)]
pub mod tests;

pub use checkpoints::Checkpoints;
pub use committer::Committer;
pub use control::{
    Approval, Changes, Claimable, Claimed, ControlPlane, Heartbeat, Listening, NodeRecord, Noticed,
    Offered, Ownership,
};
pub use error::StoreError;
pub use forward::Link;
pub use keyvalue::KeyValues;
pub use keyvalue::redis::bound as redis_values;
pub use postgres::redact as redact_url;
pub use records::{ChainLink, EventRecord, InstanceRecord, ObjectRecord, ObjectText, Write};
pub(crate) use sqlite::configure_connection;
#[cfg(test)]
use sqlite::{LOGS, WAL_KEPT};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use backend::Records;
use forward::Forwarder;
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
/// database.
pub struct Store {
    /// The node's own file: a single node's whole history, a cluster
    /// node's truth about what it runs (see [`forward`]).
    local: Sqlite,
    /// The cluster's database, when the node is one of a cluster's.
    shared: Option<Shared>,
}

/// A store's part in its cluster.
struct Shared {
    pg: Arc<Pg>,
    link: Arc<Link>,
    /// Reads answer with the cluster's view (the API's), falling back to
    /// the node's own file while the database does not answer; a
    /// runner's store reads its own file.
    view: bool,
    /// Sends the outbox (the runner's store only).
    _forwarder: Option<Forwarder>,
    /// The store tests' cluster store: commits go to the cluster's
    /// database at once (as [`Store::publish`]) and reads come from it,
    /// so one suite pins both backends' records.
    direct: bool,
}

/// How a node reaches its cluster's database.
#[derive(Debug, Clone)]
pub struct ClusterLink {
    /// `postgres://…`.
    pub url: String,
    /// This node's name.
    pub node: String,
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

    /// A node of a cluster: its own file at `local` (opened as
    /// [`Store::open`] does), whose records are sent to the cluster's
    /// database as they are committed. Nothing here waits for the
    /// database: it is reached at the first call that needs it.
    pub fn cluster(link: &ClusterLink, local: &Path) -> Result<Self, StoreError> {
        let mut store = Store::open(local)?;
        store.local.forwarding = true;
        let state = Arc::new(Link::default());
        let sender = Pg::new(&link.url, &link.node);
        let forwarder = Forwarder::start(local, sender, state.clone())?;
        store.shared = Some(Shared {
            pg: Arc::new(Pg::new(&link.url, &link.node)),
            link: state,
            view: false,
            _forwarder: Some(forwarder),
            direct: false,
        });
        Ok(store)
    }

    /// A reader of the cluster's view (the API's connections): the
    /// cluster's database, or the node's own file while it does not answer.
    pub fn cluster_readonly(link: &ClusterLink, local: &Path) -> Result<Self, StoreError> {
        let mut store = Store::open_readonly(local)?;
        store.shared = Some(Shared {
            pg: Arc::new(Pg::new(&link.url, &link.node)),
            link: Arc::new(Link::default()),
            view: true,
            _forwarder: None,
            direct: false,
        });
        Ok(store)
    }

    /// A cluster store whose commits go straight to the cluster's database
    /// and whose reads come from it: the store tests' (see `direct`).
    #[cfg(test)]
    pub fn cluster_direct(link: &ClusterLink, local: &Path) -> Result<Self, StoreError> {
        let mut store = Store::open(local)?;
        store.shared = Some(Shared {
            pg: Arc::new(Pg::new(&link.url, &link.node)),
            link: Arc::new(Link::default()),
            view: true,
            _forwarder: None,
            direct: true,
        });
        Ok(store)
    }

    /// The control plane of the cluster this store is shared by, if it is.
    pub fn control_plane(&self) -> Option<Arc<dyn ControlPlane>> {
        let shared = self.shared.as_ref()?.pg.clone();
        Some(shared)
    }

    /// How this node stands with its cluster's database, in a cluster.
    pub fn link(&self) -> Option<Arc<Link>> {
        Some(self.shared.as_ref()?.link.clone())
    }

    /// Whether reads answer from this node's own file because the
    /// cluster's database did not answer the last one (the API says so).
    pub fn answered_alone(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|s| s.view && !s.link.is_up())
    }

    /// Reads through the backend that holds the records for this store's
    /// reader: the node's own file, or the cluster's view (falling back to
    /// the file while the database does not answer).
    fn read<T>(&self, f: impl Fn(&dyn Records) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let Some(shared) = self.shared.as_ref().filter(|s| s.view) else {
            return f(&self.local);
        };
        match f(&*shared.pg) {
            Err(e) if e.is_transient() => {
                if shared.link.lost() {
                    tracing::debug!("cluster view: {e}; answering from this node's own records");
                }
                f(&self.local)
            }
            answer => {
                if answer.is_ok() {
                    shared.link.reached();
                }
                answer
            }
        }
    }

    /// Whether this node's file says it has joined a cluster before (so it
    /// may start while the cluster's database does not answer).
    pub fn joined_before(&self) -> Result<bool, StoreError> {
        Ok(self.local.setting("cluster")?.is_some())
    }

    /// Notes in this node's file that it joined the cluster at `url`.
    pub fn remember_joined(&self, url: &str) -> Result<(), StoreError> {
        self.local.set_setting("cluster", &redact_url(url))
    }

    /// This node's shares of its namespaces' quotas in its cluster, as it
    /// last set them (none kept: empty): a node that starts while the
    /// database does not answer holds its instances to them, as the other
    /// nodes still count them.
    pub fn quota_shares(
        &self,
    ) -> Result<BTreeMap<String, crate::access::quota_share::Share>, StoreError> {
        let kept = self.local.setting("quota-shares")?;
        Ok(kept
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default())
    }

    /// Keeps this node's shares of its namespaces' quotas in its file.
    pub fn keep_quota_shares(
        &self,
        shares: &BTreeMap<String, crate::access::quota_share::Share>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(shares).expect("shares are plain numbers");
        self.local.set_setting("quota-shares", &json)
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

    /// Commits a batch of writes in one transaction, to the node's own
    /// file; in a cluster they are sent on from there (see [`forward`]).
    pub fn commit(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        if self.shared.as_ref().is_some_and(|s| s.direct) {
            return self.publish(writes);
        }
        self.local.commit(writes)?;
        if let Some(shared) = &self.shared {
            shared.link.poke();
        }
        Ok(())
    }

    /// Commits writes the cluster must have before anyone is told (an
    /// apply, a delete): to the cluster's database first, then to this
    /// node's file. A single node commits them to its file.
    pub fn publish(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        let Some(shared) = &self.shared else {
            return self.commit(writes);
        };
        shared.pg.commit(writes)?;
        self.local.mirror(writes)
    }

    /// Copies what the cluster has into this node's file, to send nothing
    /// back: the records of an object it takes over or follows.
    pub fn mirror(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        self.local.mirror(writes)
    }

    /// Makes this node's row of an object what the cluster says (created,
    /// changed or deleted there); `held` when this node owns it (it then
    /// resumes it at its next start, as its own).
    pub fn mirror_object(&mut self, record: &ObjectRecord, held: bool) -> Result<(), StoreError> {
        self.local.mirror_object(record, held)
    }

    /// The live objects of `kind` this node runs as their owner (a single
    /// node owns everything; a cluster node not the copies it follows),
    /// oldest first.
    pub fn held_objects(&self, kind: Kind) -> Result<Vec<ObjectRecord>, StoreError> {
        self.local.held_objects(kind)
    }

    /// Records this node has not sent to its cluster yet (0 alone).
    pub fn unsent(&self) -> Result<u64, StoreError> {
        match &self.shared {
            Some(_) => self.local.unsent(),
            None => Ok(0),
        }
    }

    /// At a cluster node's start: what it ran for other nodes' Jobs and
    /// its file still has running ended with the last process; how many.
    pub fn end_hosted(
        &self,
        node: &str,
        now: Micros,
        why: (&str, &str),
    ) -> Result<usize, StoreError> {
        self.local.end_hosted(node, now, why)
    }

    /// Stores module bytes under their digest (idempotent).
    pub fn put_module(
        &self,
        digest: &str,
        component: bool,
        bytes: &[u8],
        now: Micros,
    ) -> Result<(), StoreError> {
        self.local.put_module(digest, component, bytes, now)
    }

    /// The bytes of a stored module; a cluster node without them takes
    /// them from the cluster (and keeps them, to start without it).
    pub fn module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let found = self.read(|r| r.module(digest))?;
        let Some(shared) = self.shared.as_ref().filter(|_| found.is_none()) else {
            return Ok(found);
        };
        let Some(bytes) = ControlPlane::module(&*shared.pg, digest)? else {
            return Ok(None);
        };
        if !shared.view {
            let component = crate::runtime::is_component(&bytes);
            self.local
                .put_module(digest, component, &bytes, crate::time::now())?;
        }
        Ok(Some(bytes))
    }

    /// The live object of this kind and name, if any.
    pub fn live_object(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        self.read(|r| r.live_object(kind, namespace, name))
    }

    /// Every live object of a kind, in one namespace or all, oldest first.
    pub fn live_objects(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectRecord>, StoreError> {
        self.read(|r| r.live_objects(kind, namespace))
    }

    /// As [`Store::live_objects`], with manifests and statuses as the JSON
    /// text stored, for listings that pass them on unread.
    pub fn live_objects_text(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectText>, StoreError> {
        self.read(|r| r.live_objects_text(kind, namespace))
    }

    /// Every instance of live objects, in one namespace or all, oldest first.
    pub fn live_instances(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<InstanceRecord>, StoreError> {
        self.read(|r| r.live_instances_in(namespace, InstanceScope::All))
    }

    /// The instances of live objects that may match `scope`, in one namespace
    /// or all, oldest first: an index lookup for a Job's or one instance's
    /// name, so a query about one Job costs the same whatever the history.
    pub fn live_instances_in(
        &self,
        namespace: Option<&str>,
        scope: InstanceScope<'_>,
    ) -> Result<Vec<InstanceRecord>, StoreError> {
        self.read(|r| r.live_instances_in(namespace, scope))
    }

    /// Events of live objects in a namespace (or all), oldest first.
    pub fn live_events(&self, namespace: Option<&str>) -> Result<Vec<EventRecord>, StoreError> {
        self.read(|r| r.live_events(namespace))
    }

    /// The bytes of output stored for the instances of a namespace's live
    /// objects (a ResourceQuota's `wasmjob.dev/logs`).
    pub fn log_bytes(&self, namespace: &str) -> Result<u64, StoreError> {
        self.read(|r| r.log_bytes(namespace))
    }

    /// An object by uid, live or deleted.
    pub fn object(&self, uid: &str) -> Result<Option<ObjectRecord>, StoreError> {
        self.read(|r| r.object(uid))
    }

    /// Every instance an object owns, oldest first.
    pub fn instances_of(&self, owner_uid: &str) -> Result<Vec<InstanceRecord>, StoreError> {
        self.read(|r| r.instances_of(owner_uid))
    }

    /// How many of the instances an object owns have not ended.
    pub fn unfinished_instances_of(&self, owner_uid: &str) -> Result<u64, StoreError> {
        self.read(|r| r.unfinished_instances_of(owner_uid))
    }

    /// Every attempt's log of an instance, oldest first: (attempt, bytes).
    pub fn logs(&self, instance_uid: &str) -> Result<Vec<(u32, Vec<u8>)>, StoreError> {
        self.read(|r| r.logs(instance_uid))
    }

    /// Every attempt's log of an instance and when each of its lines
    /// began, oldest first: (attempt, bytes, times).
    pub fn logs_timed(
        &self,
        instance_uid: &str,
    ) -> Result<Vec<(u32, Vec<u8>, crate::runtime::line_times::LineTimes)>, StoreError> {
        self.read(|r| r.logs_timed(instance_uid))
    }

    /// An instance's structured log records, by attempt then order.
    pub fn log_records(&self, instance_uid: &str) -> Result<Vec<(u32, LogRecord)>, StoreError> {
        self.read(|r| r.log_records(instance_uid))
    }

    /// A CronJob's decided times, oldest first: (scheduled time, Job uid if
    /// one was started).
    pub fn cron_runs(
        &self,
        cronjob_uid: &str,
    ) -> Result<Vec<(Micros, Option<String>)>, StoreError> {
        self.read(|r| r.cron_runs(cronjob_uid))
    }

    /// Deletes every live object whose `ttlSecondsAfterFinished` ran out by
    /// `now`, as of its expiry time; returns how many. The rows stay as history.
    pub fn delete_expired(&self, now: Micros) -> Result<usize, StoreError> {
        match &self.shared {
            Some(shared) if shared.direct => Records::delete_expired(&*shared.pg, now),
            _ => self.local.delete_expired(now),
        }
    }
}

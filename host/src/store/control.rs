//! The control plane of a cluster: what the nodes sharing one database
//! coordinate through, beside the records every store keeps — the nodes
//! (labels, capacity, heartbeats), which node owns each Job and CronJob,
//! instances offered to every node and claimed by one, and the rolling
//! update steps that spend the whole cluster's budget. A store shared by a
//! cluster hands one out ([`super::Store::control_plane`]); its callers
//! never learn what database is behind it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use super::{InstanceRecord, ObjectRecord, StoreError, Write};
use crate::manifest::Kind;
use crate::time::Micros;

/// A node of the cluster, as its row says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its taints.
    pub taints: Vec<crate::manifest::Taint>,
    /// The extended resources it advertises.
    pub resources: BTreeMap<String, i64>,
    /// Instances it runs at once at most.
    pub capacity: u32,
    /// Its wasmjob version.
    pub version: String,
    /// Its API address.
    pub address: String,
    /// When it first joined.
    pub joined_at: Micros,
    /// Its last heartbeat, by the database's clock.
    pub heartbeat_at: Micros,
    /// Heartbeating within the grace period.
    pub ready: bool,
}

/// What a heartbeat learns: this node's labels as its row has them
/// (another node's `label node` changes them there; `None` if the row is
/// gone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heartbeat {
    /// The node's labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// The node's taints.
    pub taints: Option<Vec<crate::manifest::Taint>>,
}

/// An object a node just took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    /// When the previous owner's lease ran out, by the database's clock:
    /// the previous owner decided nothing after it, and the new one
    /// decides no scheduled time before it. `None` for an unowned object.
    pub fence: Option<Micros>,
    /// How many owners it has had, this one included.
    pub epoch: i64,
}

/// A Job or CronJob a node may take: unowned, or owned by a lost node.
#[derive(Debug, Clone)]
pub struct Claimable {
    /// The object.
    pub record: ObjectRecord,
    /// The lost node that owned it, if any.
    pub owner: Option<String>,
}

/// Who owns an object now, and its manifest's generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// The object.
    pub uid: String,
    /// Bumped by every manifest change.
    pub generation: i64,
    /// Deleted meanwhile.
    pub deleted: bool,
    /// The owning node.
    pub owner: Option<String>,
}

/// Instances of one Job offered to the cluster that this node could claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    /// The Job.
    pub owner_uid: String,
    /// Offered to any node, or to this one.
    pub waiting: u32,
    /// Of those, offered to this node alone (restarted in place here).
    pub pinned: u32,
}

/// Kinds of change another node made, that a node's runner should look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Changes(pub(super) u8);

impl Changes {
    /// Nothing.
    pub const NONE: Changes = Changes(0);
    /// Instances were offered.
    pub const OFFERED: Changes = Changes(1);
    /// Instances a node ran for another's Job ended.
    pub const ENDED: Changes = Changes(2);
    /// Instances a node runs were stopped by their Job's owner.
    pub const STOPPED: Changes = Changes(4);
    /// Everything a runner looks at.
    pub const ALL: Changes = Changes(7);
    /// Records changed: what the API's watches look at (every batch a
    /// node sends says so; a runner has nothing to do for it alone).
    pub const RECORDS: Changes = Changes(8);

    /// Whether `other` is among these.
    pub fn contains(self, other: Changes) -> bool {
        self.0 & other.0 == other.0
    }

    /// These and `other`.
    pub fn with(self, other: Changes) -> Changes {
        Changes(self.0 | other.0)
    }

    /// Whether there is none.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Changes noticed and not looked at yet, shared by the listener and the
/// runner.
#[derive(Debug, Default)]
pub struct Noticed(AtomicU8);

impl Noticed {
    /// Adds changes; true when there was nothing before (a wake-up is due).
    pub fn add(&self, changes: Changes) -> bool {
        self.0.fetch_or(changes.0, Ordering::AcqRel) == 0 && !changes.is_empty()
    }

    /// Takes what was noticed.
    pub fn take(&self) -> Changes {
        Changes(self.0.swap(0, Ordering::AcqRel))
    }
}

/// A node listening for changes; dropping it stops listening.
pub struct Listening {
    pub(super) _guard: Box<dyn Send>,
}

/// How a rolling update step is judged, under the DaemonSet's lock: from
/// every node and every node's unfinished instance of the DaemonSet.
pub type Approval<'a> = &'a mut dyn FnMut(&[NodeRecord], &[InstanceRecord]) -> bool;

/// The control plane of a cluster, as one node uses it.
pub trait ControlPlane: Send + Sync {
    /// The database, its password hidden, for messages.
    fn describe(&self) -> String;

    /// Registers this node (or updates its row): labels, capacity, API address.
    fn register_node(
        &self,
        labels: &BTreeMap<String, String>,
        capacity: u32,
        address: &str,
    ) -> Result<(), StoreError>;

    /// A cluster-wide setting (the API token, the Secrets' key): the first
    /// node's (`mine`), shared by all.
    fn cluster_setting(&self, key: &str, mine: &str) -> Result<String, StoreError>;

    /// This node's heartbeat, which keeps its leases on what it owns.
    fn heartbeat(&self) -> Result<Heartbeat, StoreError>;

    /// Every node; Ready when its heartbeat is within `grace`.
    fn nodes(&self, grace: Duration) -> Result<Vec<NodeRecord>, StoreError>;

    /// Sets a node's labels; false if there is no such node.
    fn set_node_labels(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<bool, StoreError>;

    /// Sets the extended resources this node advertises.
    fn set_node_resources(&self, resources: &BTreeMap<String, i64>) -> Result<(), StoreError>;

    /// Sets a node's taints; false if there is no such node.
    fn set_node_taints(
        &self,
        name: &str,
        taints: &[crate::manifest::Taint],
    ) -> Result<bool, StoreError>;

    /// Unfinished Jobs and CronJobs nobody owns, or whose owner's lease
    /// ran out (never a pinned one); `grace` judges rows without a lease.
    fn claimable(&self, grace: Duration) -> Result<Vec<Claimable>, StoreError>;

    /// Takes an object if its owner is still `previous` (and that owner's
    /// lease ran out); what was taken, if it was.
    fn claim(
        &self,
        uid: &str,
        previous: Option<&str>,
        grace: Duration,
    ) -> Result<Option<Claimed>, StoreError>;

    /// keepOriginal: this node's instances that another node ended while
    /// it was away take this node's state again; how many.
    fn revive(&self, uids: &[String]) -> Result<u64, StoreError>;

    /// An object by uid, live or deleted, as the cluster has it.
    fn object(&self, uid: &str) -> Result<Option<ObjectRecord>, StoreError>;

    /// Every live object of a kind in the cluster, oldest first.
    fn live_objects(&self, kind: Kind) -> Result<Vec<ObjectRecord>, StoreError>;

    /// The live object of this kind and name in the cluster, if any.
    fn live_object(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRecord>, StoreError>;

    /// Every instance an object owns, as the cluster has them.
    fn instances_of(&self, owner_uid: &str) -> Result<Vec<InstanceRecord>, StoreError>;

    /// A CronJob's decided times, as the cluster has them.
    fn cron_runs(&self, cronjob_uid: &str) -> Result<Vec<(Micros, Option<String>)>, StoreError>;

    /// A module's bytes, from the cluster.
    fn module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Commits writes the cluster must have before anyone is told (an
    /// apply, a delete through this node), in one transaction.
    fn publish(&self, writes: &[Write]) -> Result<(), StoreError>;

    /// Gives an object this node owns back to the cluster.
    fn release(&self, uid: &str) -> Result<(), StoreError>;

    /// Who owns these objects now.
    fn ownership(&self, uids: &[String]) -> Result<Vec<Ownership>, StoreError>;

    /// The Jobs with instances offered that this node could claim.
    fn offered(&self) -> Result<Vec<Offered>, StoreError>;

    /// Claims up to `limit` offered instances of these Jobs, running here
    /// from `now`, oldest first.
    fn claim_offered(
        &self,
        owners: &[String],
        limit: u32,
        now: Micros,
    ) -> Result<Vec<InstanceRecord>, StoreError>;

    /// What an offered instance gets on stdin.
    fn instance_input(&self, uid: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// These instances' rows as they are now.
    fn instance_states(&self, uids: &[String]) -> Result<Vec<InstanceRecord>, StoreError>;

    /// The rows of the Jobs `owners` written since change `since`, oldest
    /// change first, each with its change; at most `limit`.
    fn instance_changes(
        &self,
        owners: &[String],
        since: i64,
        limit: i64,
    ) -> Result<Vec<(i64, InstanceRecord)>, StoreError>;

    /// Ends what this node ran for other nodes' Jobs before it restarted;
    /// how many.
    fn end_orphaned(&self, now: Micros, reason: &str, message: &str) -> Result<u64, StoreError>;

    /// Takes a DaemonSet's rolling update step if `approve` says the whole
    /// cluster takes it too: `writes` are committed with that decision, under
    /// the DaemonSet's lock, so two nodes never spend the same budget.
    fn rolling_step(
        &self,
        daemonset_uid: &str,
        grace: Duration,
        approve: Approval<'_>,
        writes: &[Write],
    ) -> Result<bool, StoreError>;

    /// Ends and removes the DaemonSet instances of lost nodes; how many.
    fn drop_lost_daemons(&self, grace: Duration, now: Micros) -> Result<u64, StoreError>;

    /// Sets this node's share of each asked namespace's quotas on
    /// instances (see [`crate::access::quota_share`]), counting the shares
    /// of nodes whose heartbeat is within `grace`; forgets its shares of
    /// the namespaces it does not ask for.
    fn share_quotas(
        &self,
        asks: &[crate::access::quota_share::Ask],
        grace: Duration,
    ) -> Result<Vec<(String, crate::access::quota_share::Share)>, StoreError>;

    /// The output a namespace's instances have stored, as the cluster has
    /// it (what every node sent).
    fn log_bytes(&self, namespace: &str) -> Result<u64, StoreError>;

    /// How many live objects of `kind` a namespace has in the cluster.
    fn live_count(&self, kind: Kind, namespace: &str) -> Result<u64, StoreError>;

    /// Listens for other nodes' changes: each is added to `noticed`, and
    /// `wake` is called when there was nothing noticed before (it returns
    /// false once nobody listens any more).
    fn listen(&self, noticed: Arc<Noticed>, wake: Box<dyn Fn() -> bool + Send>) -> Listening;
}

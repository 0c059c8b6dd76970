//! What every handler of the API shares: the node's token and store, the
//! runner's inbox, this node as `get nodes` shows it, and a pool of
//! read-only store connections that handlers read on.

use std::path::PathBuf;
use std::sync::Mutex;

use super::error::{ApiError, internal, unavailable};
use crate::runner::{Command, Inbox};
use crate::store::Store;

/// This node, as `get nodes` shows it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// `--node-name`.
    pub name: String,
    /// `--labels`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--taints`, and `taint node`'s changes.
    pub taints: Vec<crate::manifest::Taint>,
    /// When this process started.
    pub started: i64,
}

/// What every handler shares.
pub struct ServerState {
    /// The bearer token.
    pub token: String,
    /// Makes and verifies ServiceAccount tokens (keyed from `token`).
    pub signer: crate::access::tokens::Signer,
    /// Where requests are recorded (`serve --audit-log`), if anywhere.
    pub audit: Option<super::audit::AuditLog>,
    /// The database file, for read connections.
    pub db: PathBuf,
    /// The runner's inbox.
    pub runner: Inbox,
    /// This node (its labels change with `wasmjob label node`).
    pub node: Mutex<NodeInfo>,
    /// In a cluster, the database every read goes to.
    pub cluster: Option<ClusterAccess>,
    /// Open read connections, reused between requests.
    pub readers: Mutex<Vec<Store>>,
    /// The last read answered from this node's own records because the
    /// cluster's database did not answer (the answer says so).
    pub alone: std::sync::atomic::AtomicBool,
    /// Opens stored Secrets for `get secret -o yaml`.
    pub keyring: std::sync::Arc<crate::secrets::Keyring>,
    /// `serve --strict`: a manifest field the sandbox would ignore is a
    /// refusal rather than a warning.
    pub strict: bool,
    /// The `resourceVersion`s the Kubernetes API has given.
    pub revisions: super::revisions::Revisions,
    /// Held by a Kubernetes API write from reading the object it changes to
    /// storing it, so that of two writes made from the same read the second
    /// sees the first and answers 409.
    pub kube_writes: tokio::sync::Mutex<()>,
    /// The API is served over TLS (the dashboard's cookie is `Secure`).
    pub tls: bool,
    /// The node's runtime: large modules of CronJobs and DaemonSets are
    /// compiled here before an apply reaches the runner (see `precompile`).
    pub runtime: std::sync::Arc<crate::runtime::Runtime>,
}

/// Where a cluster node's API reads.
#[derive(Debug, Clone)]
pub struct ClusterAccess {
    /// The PostgreSQL URL.
    pub url: String,
    /// Heartbeats older than this make a node NotReady.
    pub grace: std::time::Duration,
}

impl ClusterAccess {
    /// How node `node` reaches the cluster's database.
    pub fn link(&self, node: &str) -> crate::store::ClusterLink {
        crate::store::ClusterLink {
            url: self.url.clone(),
            node: node.to_owned(),
        }
    }
}

/// Read connections kept open at most.
const MAX_READERS: usize = 8;

pub(super) type Shared = std::sync::Arc<ServerState>;

pub(super) async fn read<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let pooled = state.readers.lock().expect("reader pool").pop();
        let store = match pooled {
            Some(store) => store,
            None => {
                let node = state.node.lock().expect("node info").name.clone();
                match &state.cluster {
                    None => Store::open_readonly(&state.db),
                    Some(c) => Store::cluster_readonly(&c.link(&node), &state.db),
                }
                .map_err(internal)?
            }
        };
        let result = f(&store);
        let alone = store.answered_alone();
        state
            .alone
            .store(alone, std::sync::atomic::Ordering::Relaxed);
        let mut pool = state.readers.lock().expect("reader pool");
        if pool.len() < MAX_READERS {
            pool.push(store);
        }
        result
    })
    .await
    .map_err(internal)?
}

pub(super) fn send(state: &Shared, command: Command) -> Result<(), ApiError> {
    match state.runner.command(command) {
        true => Ok(()),
        false => Err(unavailable()),
    }
}

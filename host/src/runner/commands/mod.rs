//! Commands from the API, carried out on the runner's thread so that every
//! write to the store has one author: apply (create or update objects, all
//! or nothing, every module admitted first), delete (cascading to
//! instances, and to a CronJob's Jobs), relabel or retaint this node,
//! shutdown. `applying` carries an apply out; `dependencies` refuses Jobs
//! whose `dependsOn` runs in a cycle; `quota` holds an apply to its
//! namespaces' LimitRanges and ResourceQuotas, `pod_security` to their Pod
//! Security levels.

mod applying;
mod dependencies;
mod pod_security;
mod quota;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::oneshot;

use super::parts::Parts;
use crate::admission::ModuleBlob;
use crate::controller::node::{Relabel, relabeled};
use crate::manifest::{Object, Source, Taint, TaintChange, taints};
use crate::store::{ControlPlane, StoreError, Write};
use crate::time::{self, Micros};

/// One object to apply, validated by the server.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Where it came from.
    pub source: Source,
    /// A Job, CronJob or DaemonSet, its image a digest.
    pub object: Object,
}

/// An apply: objects and the modules they need that the store may lack.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// The objects, in file order.
    pub objects: Vec<Incoming>,
    /// Module bytes by digest.
    pub modules: Vec<ModuleBlob>,
    /// `create`: an existing object is an error rather than an update.
    pub create_only: bool,
}

/// What happened to one applied object, as kubectl reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// `job.batch`.
    pub kind: String,
    /// The name.
    pub name: String,
    /// `created`, `configured` or `unchanged`.
    pub result: String,
    /// What the server says of it in `Warning`s (its namespace's Pod
    /// Security `warn` level).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the audit log's event of the apply notes of it (its
    /// namespace's Pod Security `audit` level); never sent to the client.
    #[serde(skip)]
    pub audit: Option<String>,
}

/// Why an apply was refused; nothing was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyFailure {
    /// 422 for invalid input, 409 for a conflict with what exists.
    pub status: u16,
    /// One line naming the file, document and field.
    pub message: String,
}

/// Why an apply failed inside the runner: refused (the client's to
/// mend), or the store failed.
pub(super) enum Failure {
    Refused(ApplyFailure),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl Failure {
    pub(super) fn into_apply_failure(self) -> ApplyFailure {
        match self {
            Failure::Refused(f) => f,
            Failure::Store(e) => ApplyFailure {
                status: if e.is_transient() { 503 } else { 500 },
                message: e.to_string(),
            },
        }
    }
}

/// A refusal of `incoming`'s `field`, as the API answers it (422).
pub(super) fn invalid_at(incoming: &Incoming, field: &str, message: &str) -> ApplyFailure {
    ApplyFailure {
        status: 422,
        message: format!(
            "{}: document {}: {field}: {message}",
            incoming.source.file, incoming.source.document
        ),
    }
}

/// What a client asked for.
pub enum Command {
    /// Create or update objects.
    Apply {
        /// The objects.
        request: ApplyRequest,
        /// The answer.
        reply: oneshot::Sender<Result<Vec<Applied>, ApplyFailure>>,
    },
    /// Delete objects (by uid) and their instances.
    Delete {
        /// The objects.
        uids: Vec<String>,
        /// The answer: how many were deleted.
        reply: oneshot::Sender<Result<usize, String>>,
    },
    /// Change this node's labels (`wasmjob label node`): DaemonSets and
    /// waiting Jobs see the new labels at the next pass.
    Relabel {
        /// What to change.
        change: Relabel,
        /// The node's labels afterwards, or why nothing changed.
        reply: oneshot::Sender<Result<BTreeMap<String, String>, String>>,
    },
    /// Change this node's taints (`wasmjob taint node`): placement looks
    /// again, and instances that do not tolerate a new `NoExecute` taint
    /// end.
    Retaint {
        /// What to change.
        change: Retaint,
        /// The node's taints afterwards, or why nothing changed.
        reply: oneshot::Sender<Result<Vec<Taint>, String>>,
    },
    /// Stop taking work, let running instances finish within `grace`.
    Shutdown {
        /// The grace period.
        grace: Duration,
    },
}

/// What `taint node` asks of this node.
#[derive(Debug, Clone)]
pub struct Retaint {
    /// What to add and remove, in order.
    pub changes: Vec<TaintChange>,
    /// Whether a taint may change value.
    pub overwrite: bool,
    /// Now, in RFC 3339: a `NoExecute` taint's `timeAdded`.
    pub now: String,
}

impl Parts {
    /// Carries out a command. One that arrives while the store cannot be
    /// written is answered with the reason, except a shutdown, which goes
    /// ahead.
    pub(super) fn command(
        &mut self,
        command: Command,
        control: Option<&dyn ControlPlane>,
    ) -> Result<(), StoreError> {
        if let Some(error) = self.journal.unwritable() {
            let message = format!("{error}; this node takes no new work until then");
            return self.refuse(command, message);
        }
        match command {
            Command::Apply { request, reply } => {
                let result = self.apply(request, control);
                if let Err(Failure::Store(e)) = &result {
                    // The client gets a 500; the node's log says why.
                    tracing::error!(error = %e, "apply failed in the store");
                }
                let _ = reply.send(result.map_err(Failure::into_apply_failure));
                Ok(())
            }
            Command::Delete { uids, reply } => {
                let result = self.delete_published(&uids, control, time::now());
                let _ = reply.send(result.as_ref().map(|n| *n).map_err(|e| e.to_string()));
                match result {
                    // Held, and written when the store can take it.
                    Err(e) if e.is_transient() => Ok(()),
                    other => other.map(drop),
                }
            }
            Command::Relabel { change, reply } => {
                let _ = reply.send(self.relabel(change, control));
                Ok(())
            }
            Command::Retaint { change, reply } => {
                let _ = reply.send(self.retaint(change, control));
                Ok(())
            }
            Command::Shutdown { grace } => {
                self.draining = Some(time::now() + grace.as_micros() as Micros);
                self.gate.set_draining();
                Ok(())
            }
        }
    }

    /// A delete through this node's API: the cluster's database records
    /// the deletions first (the objects' owners follow them), then this
    /// node stops what it runs of them.
    fn delete_published(
        &mut self,
        uids: &[String],
        control: Option<&dyn ControlPlane>,
        now: Micros,
    ) -> Result<usize, StoreError> {
        // A DaemonSet's history goes with it.
        let revisions = super::daemon::history::revisions(control, self.journal.store())?;
        let owned = super::daemon::history::owned_by(&revisions, uids);
        let deleted = uids
            .iter()
            .chain(&owned)
            .map(|uid| Write::ObjectDeleted {
                uid: uid.clone(),
                at: now,
            })
            .collect();
        self.journal.publish(deleted, &mut self.jobs)?;
        self.delete(uids, now)
    }

    /// Answers a command with why it cannot be carried out now.
    fn refuse(&mut self, command: Command, message: String) -> Result<(), StoreError> {
        match command {
            Command::Apply { reply, .. } => {
                let status = 503;
                let _ = reply.send(Err(ApplyFailure { status, message }));
            }
            Command::Delete { reply, .. } => {
                let _ = reply.send(Err(message));
            }
            Command::Relabel { reply, .. } => {
                let _ = reply.send(Err(message));
            }
            Command::Retaint { reply, .. } => {
                let _ = reply.send(Err(message));
            }
            shutdown @ Command::Shutdown { .. } => return self.command(shutdown, None),
        }
        Ok(())
    }

    /// kubectl's rules: changing a label's value needs `overwrite`. In a
    /// cluster, the other nodes see the new labels too.
    fn relabel(
        &mut self,
        change: Relabel,
        control: Option<&dyn ControlPlane>,
    ) -> Result<BTreeMap<String, String>, String> {
        let labels = relabeled(&self.config.node_labels, change)?;
        if let Some(control) = control {
            control
                .set_node_labels(&self.config.node_name, &labels)
                .map_err(|e| e.to_string())?;
        }
        self.config.node_labels = labels;
        // A Job that could not run here is looked at again.
        use super::driver::Driver as _;
        self.jobs.placement_changed();
        Ok(self.config.node_labels.clone())
    }
}

impl Parts {
    /// kubectl's rules (see [`taints::retainted`]). In a cluster, the
    /// other nodes see the new taints too. What is placed next follows
    /// them; instances running here that a new `NoExecute` taint does not
    /// let stay end at the next pass.
    fn retaint(
        &mut self,
        change: Retaint,
        control: Option<&dyn ControlPlane>,
    ) -> Result<Vec<Taint>, String> {
        let taints = taints::retainted(
            &self.config.node_taints,
            &change.changes,
            change.overwrite,
            &change.now,
        )?;
        if let Some(control) = control {
            control
                .set_node_taints(&self.config.node_name, &taints)
                .map_err(|e| e.to_string())?;
        }
        self.config.node_taints = taints;
        use super::driver::Driver as _;
        self.jobs.placement_changed();
        Ok(self.config.node_taints.clone())
    }
}

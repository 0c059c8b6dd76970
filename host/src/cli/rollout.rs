//! `wasmjob rollout status|restart|history|undo ds/NAME`: kubectl's
//! rollout verbs for DaemonSets. `restart` and `undo` patch the DaemonSet
//! through the node's Kubernetes API, as kubectl does; `status` reads it
//! until its instances run the current template; `history` and `undo` read
//! its ControllerRevisions (one per template it has run, kept by the
//! DaemonSet controller).

use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use super::CliError;
use super::changing::{POLL, target};
use super::get::{fetch, fetch_one};
use super::remote::connect;
use crate::api::client::Client;
use crate::resource::ResourceType;

/// `wasmjob rollout`.
#[derive(Debug, clap::Subcommand)]
pub enum RolloutCommand {
    /// Wait until every instance of a DaemonSet runs its current template.
    Status(RolloutArgs),
    /// Replace every instance of a DaemonSet, one by one, with a fresh one.
    Restart(RolloutArgs),
    /// List a DaemonSet's revisions, or show one's template.
    History(HistoryArgs),
    /// Put a DaemonSet's previous template (or --to-revision's) back.
    Undo(UndoArgs),
}

/// The DaemonSet of a `rollout`.
#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// The namespace of the DaemonSet.
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,
    /// ds/NAME or daemonset/NAME.
    pub target: String,
    /// How long `status` waits.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub timeout: String,
}

/// `rollout history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The namespace of the DaemonSet.
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,
    /// ds/NAME or daemonset/NAME.
    pub target: String,
    /// Show this revision's template instead of the list.
    #[arg(long, value_name = "N")]
    pub revision: Option<i64>,
}

/// `rollout undo`.
#[derive(Debug, clap::Args)]
pub struct UndoArgs {
    /// The namespace of the DaemonSet.
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,
    /// ds/NAME or daemonset/NAME.
    pub target: String,
    /// The revision to go back to; the one before the current by default.
    #[arg(long, value_name = "N")]
    pub to_revision: Option<i64>,
}

/// `wasmjob rollout …`.
pub fn rollout(
    server: Option<&str>,
    state_dir: &Path,
    command: &RolloutCommand,
) -> Result<(), CliError> {
    let (namespace, text) = match command {
        RolloutCommand::Status(a) | RolloutCommand::Restart(a) => (&a.namespace, &a.target),
        RolloutCommand::History(a) => (&a.namespace, &a.target),
        RolloutCommand::Undo(a) => (&a.namespace, &a.target),
    };
    let (resource, name) = target(text, None)?;
    if resource != ResourceType::DaemonSets {
        return Err(CliError::BadInput(format!(
            "{text}: rollout is for DaemonSets (ds/NAME)"
        )));
    }
    let client = connect(server, state_dir)?;
    let ds = Named {
        client: &client,
        namespace,
        name: &name,
    };
    match command {
        RolloutCommand::Restart(_) => ds.restart(),
        RolloutCommand::Status(args) => ds.status(&args.timeout),
        RolloutCommand::History(args) => ds.history(args.revision),
        RolloutCommand::Undo(args) => ds.undo(args.to_revision),
    }
}

/// The DaemonSet a rollout verb is about.
struct Named<'a> {
    client: &'a Client,
    namespace: &'a str,
    name: &'a str,
}

impl Named<'_> {
    fn get(&self) -> Result<Value, CliError> {
        fetch_one(
            self.client,
            ResourceType::DaemonSets,
            self.namespace,
            self.name,
        )
    }

    /// A strategic merge patch of the DaemonSet, as kubectl sends it.
    fn patch(&self, patch: &Value) -> Result<(), CliError> {
        let ds = (ResourceType::DaemonSets, self.namespace, self.name);
        let strategic = "application/strategic-merge-patch+json";
        super::remote::patch(self.client, ds, strategic, patch)
    }

    fn restart(&self) -> Result<(), CliError> {
        // As kubectl: a new annotation on the template is a new template.
        let now = crate::time::rfc3339(crate::time::now());
        self.patch(
            &serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": now,
            }}}}}),
        )?;
        outln!("daemonset.apps/{} restarted", self.name);
        Ok(())
    }

    fn status(&self, timeout: &str) -> Result<(), CliError> {
        let name = self.name;
        let timeout = crate::time::parse_duration(timeout)
            .map_err(|e| CliError::BadInput(format!("--timeout: {e}")))?;
        let deadline = Instant::now() + timeout;
        let mut said = String::new();
        loop {
            let ds = self.get()?;
            let Some(waiting) = waiting(&ds, name) else {
                outln!("daemon set {name:?} successfully rolled out");
                return Ok(());
            };
            if waiting != said {
                outln!("{waiting}");
                said = waiting;
            }
            if Instant::now() >= deadline {
                return Err(CliError::Failed(format!(
                    "timed out waiting for the rollout of daemon set {name:?}"
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The DaemonSet's revisions, oldest first.
    fn revisions(&self, ds: &Value) -> Result<Vec<Value>, CliError> {
        let uid = &ds["metadata"]["uid"];
        let all = fetch(
            self.client,
            ResourceType::ControllerRevisions,
            Some(self.namespace),
            None,
            None,
        )?;
        let mut owned: Vec<Value> = all
            .into_iter()
            .filter(|r| {
                r["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| {
                        refs.iter()
                            .any(|o| o["controller"] == true && &o["uid"] == uid)
                    })
            })
            .collect();
        owned.sort_by_key(number);
        Ok(owned)
    }

    fn history(&self, revision: Option<i64>) -> Result<(), CliError> {
        let ds = self.get()?;
        let revisions = self.revisions(&ds)?;
        let name = self.name;
        let Some(wanted) = revision.filter(|n| *n != 0) else {
            outln!("daemonset.apps/{name}");
            outln!("REVISION  CHANGE-CAUSE");
            for r in &revisions {
                let cause = r["metadata"]["annotations"]["kubernetes.io/change-cause"]
                    .as_str()
                    .unwrap_or("<none>");
                outln!("{:<8}  {cause}", number(r));
            }
            return Ok(());
        };
        let found = find(&revisions, wanted)?;
        outln!("daemonset.apps/{name} with revision #{wanted}");
        outln!("Pod Template:");
        let template = template_of(found);
        let yaml = serde_yaml_ng::to_string(&template).expect("YAML");
        for line in yaml.lines() {
            outln!("  {line}");
        }
        Ok(())
    }

    fn undo(&self, to: Option<i64>) -> Result<(), CliError> {
        let ds = self.get()?;
        let revisions = self.revisions(&ds)?;
        let name = self.name;
        let found = match to.filter(|n| *n != 0) {
            Some(n) => find(&revisions, n)?,
            // As kubectl: the newest revision but the current one.
            None => match revisions.len() {
                0 | 1 => {
                    return Err(CliError::Failed(format!(
                        "no rollout history found for daemonset {name:?}"
                    )));
                }
                n => &revisions[n - 2],
            },
        };
        if template_of(found) == ds["spec"]["template"] {
            outln!(
                "daemonset.apps/{name} skipped rollback (current template already matches revision {})",
                number(found)
            );
            return Ok(());
        }
        self.patch(&found["data"])?;
        outln!("daemonset.apps/{name} rolled back");
        Ok(())
    }
}

/// What `rollout status` is waiting for, as kubectl says it; `None` once
/// every instance runs the current template and is available.
fn waiting(ds: &Value, name: &str) -> Option<String> {
    let count = |field: &str| ds["status"][field].as_u64().unwrap_or(0);
    let (desired, updated, available) = (
        count("desiredNumberScheduled"),
        count("updatedNumberScheduled"),
        count("numberAvailable"),
    );
    let generation = ds["metadata"]["generation"].as_i64().unwrap_or(1);
    let observed = ds["status"]["observedGeneration"].as_i64().unwrap_or(0);
    // As kubectl: counts made before the node saw the latest change say
    // nothing about it.
    if observed < generation {
        Some("Waiting for daemon set spec update to be observed...".to_owned())
    } else if updated < desired {
        Some(format!(
            "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
        ))
    } else if available < desired {
        Some(format!(
            "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
        ))
    } else {
        None
    }
}

fn number(revision: &Value) -> i64 {
    revision["revision"].as_i64().unwrap_or(0)
}

fn find(revisions: &[Value], wanted: i64) -> Result<&Value, CliError> {
    revisions
        .iter()
        .find(|r| number(r) == wanted)
        .ok_or_else(|| {
            CliError::Failed(format!(
                "unable to find specified revision {wanted} in history"
            ))
        })
}

/// The template a revision puts back.
fn template_of(revision: &Value) -> Value {
    let mut template = revision["data"]["spec"]["template"].clone();
    if let Some(map) = template.as_object_mut() {
        map.remove("$patch");
    }
    template
}

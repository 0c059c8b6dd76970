//! `patch` and `wait`: kubectl's verbs that change one object in place or
//! wait for it. `patch` goes through the node's Kubernetes API (the
//! endpoints kubectl uses); `wait` reads the objects until they are as
//! asked. `rollout` is in `rollout`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::CliError;
use super::get::{fetch_one, kind_and_name, name_prefix, resource};
use super::remote::connect;
use crate::resource::ResourceType;

/// `wasmjob patch`.
#[derive(Debug, clap::Args)]
pub struct PatchArgs {
    /// The namespace of the object.
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,
    /// KIND/NAME, or KIND followed by NAME.
    pub target: String,
    /// The name, when KIND is given alone.
    pub name: Option<String>,
    /// The patch, JSON or YAML.
    #[arg(short = 'p', long = "patch", value_name = "PATCH")]
    pub patch: String,
    /// strategic (the default), merge, or json (RFC 6902).
    #[arg(long = "type", default_value = "strategic", value_name = "TYPE")]
    pub kind: String,
}

/// `wasmjob wait`.
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// The namespace of the objects.
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,
    /// KIND/NAME… to wait for.
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// condition=NAME (Complete, Failed, Suspended…; case does not matter)
    /// or delete.
    #[arg(long = "for", value_name = "CONDITION")]
    pub condition: String,
    /// How long to wait.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub timeout: String,
}

/// `KIND/NAME`, or `KIND` and `NAME`.
pub(super) fn target(text: &str, name: Option<&str>) -> Result<(ResourceType, String), CliError> {
    let (kind, name) = kind_and_name(text, name).ok_or_else(|| {
        CliError::BadInput(format!(
            "{text:?}: name an object as KIND/NAME or KIND NAME"
        ))
    })?;
    Ok((resource(kind)?, name.to_owned()))
}

/// `wasmjob patch KIND/NAME -p PATCH`.
pub fn patch(server: Option<&str>, state_dir: &Path, args: &PatchArgs) -> Result<(), CliError> {
    let (resource, name) = target(&args.target, args.name.as_deref())?;
    let content_type = match args.kind.as_str() {
        "strategic" => "application/strategic-merge-patch+json",
        "merge" => "application/merge-patch+json",
        "json" => "application/json-patch+json",
        other => {
            return Err(CliError::BadInput(format!(
                "--type {other:?}: use strategic, merge or json"
            )));
        }
    };
    // YAML is a superset of JSON: either is taken, and sent as JSON.
    let patch: Value = serde_yaml_ng::from_str(&args.patch)
        .map_err(|e| CliError::BadInput(format!("the patch is not JSON or YAML: {e}")))?;
    let client = connect(server, state_dir)?;
    let object = (resource, args.namespace.as_str(), name.as_str());
    super::remote::patch(&client, object, content_type, &patch)?;
    outln!("{}/{name} patched", name_prefix(resource));
    Ok(())
}

/// How often `wait` and `rollout status` look.
pub(super) const POLL: Duration = Duration::from_millis(200);

/// `wasmjob wait --for=condition=X KIND/NAME…`.
pub fn wait(server: Option<&str>, state_dir: &Path, args: &WaitArgs) -> Result<(), CliError> {
    let timeout = crate::time::parse_duration(&args.timeout)
        .map_err(|e| CliError::BadInput(format!("--timeout: {e}")))?;
    let wanted = match args.condition.split_once('=') {
        Some(("condition", condition)) => Some(condition.to_owned()),
        None if args.condition == "delete" => None,
        _ => {
            return Err(CliError::BadInput(format!(
                "--for={:?}: use condition=NAME or delete",
                args.condition
            )));
        }
    };
    let client = connect(server, state_dir)?;
    let deadline = Instant::now() + timeout;
    for text in &args.targets {
        let (resource, name) = target(text, None)?;
        loop {
            let found = fetch_one(&client, resource, &args.namespace, &name);
            let met = match (&wanted, &found) {
                (None, Err(CliError::Failed(e))) if e.contains("(NotFound)") => true,
                (None, _) => false,
                (Some(condition), Ok(object)) => has_condition(object, condition),
                (Some(_), Err(_)) => false,
            };
            if met {
                match &wanted {
                    Some(_) => outln!("{}/{name} condition met", name_prefix(resource)),
                    None => outln!("{}/{name} deleted", name_prefix(resource)),
                }
                break;
            }
            if Instant::now() >= deadline {
                return Err(CliError::Failed(format!(
                    "timed out waiting for the condition on {}/{name}",
                    resource.plural()
                )));
            }
            std::thread::sleep(POLL);
        }
    }
    Ok(())
}

/// A `status.conditions[]` entry of type `condition` (any case) is True.
fn has_condition(object: &Value, condition: &str) -> bool {
    object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| {
            c["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(condition))
                && c["status"] == "True"
        })
}

//! `wasmjob label node NAME KEY=VALUE… KEY-…` and `wasmjob taint node NAME
//! KEY=VALUE:EFFECT… KEY:EFFECT-…`: change a running node's labels or
//! taints, as `kubectl label nodes` and `kubectl taint nodes`. DaemonSets
//! gain or lose the node's instance at once; Jobs waiting for a matching
//! node are looked at again. The change lasts until the node restarts: put
//! it in `serve --labels` or `serve --taints` to keep it.

use std::path::Path;

use super::CliError;
use super::args::TaintArgs;
use super::remote::connect;
use crate::api::wire::{LabelRequest, TaintRequest};
use crate::manifest::{taints, validate};

/// Parses `KEY=VALUE` and `KEY-` arguments.
pub fn parse_changes(changes: &[String], overwrite: bool) -> Result<LabelRequest, CliError> {
    let mut request = LabelRequest {
        overwrite,
        ..LabelRequest::default()
    };
    for change in changes {
        if let Some((key, value)) = change.split_once('=') {
            validate::qualified_name(key)
                .and_then(|()| validate::label_value(value))
                .map_err(|e| CliError::BadInput(format!("{change:?}: {e}")))?;
            request.set.insert(key.to_owned(), value.to_owned());
        } else if let Some(key) = change.strip_suffix('-') {
            validate::qualified_name(key)
                .map_err(|e| CliError::BadInput(format!("{change:?}: {e}")))?;
            request.remove.push(key.to_owned());
        } else {
            return Err(CliError::BadInput(format!(
                "{change:?}: expected KEY=VALUE to set a label or KEY- to remove one"
            )));
        }
    }
    if changes.is_empty() {
        return Err(CliError::BadInput(
            "label needs at least one KEY=VALUE or KEY-".into(),
        ));
    }
    Ok(request)
}

/// Sends the change and prints `node/NAME labeled`.
pub fn label(
    server: Option<&str>,
    state_dir: &Path,
    kind: &str,
    name: &str,
    request: LabelRequest,
) -> Result<(), CliError> {
    if !matches!(kind, "node" | "nodes" | "no") {
        return Err(CliError::BadInput(format!(
            "label works on nodes (wasmjob label node NAME KEY=VALUE); got {kind:?}: \
             change other objects' labels in their manifest and apply it"
        )));
    }
    let client = connect(server, state_dir)?;
    let _: serde_json::Value =
        client.post(&format!("/wasmjob/v1/nodes/{name}/labels"), &request)?;
    outln!("node/{name} labeled");
    Ok(())
}

/// `taint node NAME CHANGE…`: sends the changes and prints
/// `node/NAME tainted` (`untainted` when it only removes), as kubectl.
pub fn taint(server: Option<&str>, state_dir: &Path, args: &TaintArgs) -> Result<(), CliError> {
    if !matches!(args.kind.as_str(), "node" | "nodes" | "no") {
        return Err(CliError::BadInput(format!(
            "taint works on nodes (wasmjob taint node NAME KEY=VALUE:EFFECT); got {:?}",
            args.kind
        )));
    }
    let changes = (args.changes.iter())
        .map(|c| taints::parse_change(c).map_err(CliError::BadInput))
        .collect::<Result<Vec<_>, _>>()?;
    let removes_only = changes
        .iter()
        .all(|c| matches!(c, crate::manifest::TaintChange::Remove { .. }));
    let request = TaintRequest {
        changes,
        overwrite: args.overwrite,
    };
    let client = connect(server, state_dir)?;
    let path = format!("/wasmjob/v1/nodes/{}/taints", args.name);
    let _: serde_json::Value = client.post(&path, &request)?;
    let word = if removes_only { "untainted" } else { "tainted" };
    outln!("node/{} {word}", args.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_parse_like_kubectl_label() {
        let args = ["disk=nvme".to_string(), "zone-".to_string()];
        let request = parse_changes(&args, true).unwrap();
        assert_eq!(request.set.get("disk").map(String::as_str), Some("nvme"));
        assert_eq!(request.remove, ["zone"]);
        assert!(request.overwrite);
        for bad in ["disk", "=x", "disk=no way", "-"] {
            let err = parse_changes(&[bad.to_string()], false);
            assert!(matches!(err, Err(CliError::BadInput(_))), "{bad}");
        }
    }
}

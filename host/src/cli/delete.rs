//! `wasmjob delete KIND NAME… | KIND -l SELECTOR | -f FILE`: deletes objects,
//! stopping their running instances; their history stays.

use std::path::{Path, PathBuf};

use super::CliError;
use super::get::{fetch, name_prefix};
use super::remote::connect;
use super::source::Sources;
use crate::resource::ResourceType;

/// What `delete` was asked for.
pub struct DeleteRequest<'a> {
    /// The kind, unless `-f`.
    pub kind: Option<&'a str>,
    /// Names.
    pub names: &'a [String],
    /// `-l`.
    pub selector: Option<&'a str>,
    /// `-f`.
    pub files: &'a [PathBuf],
    /// `-n`.
    pub namespace: &'a str,
}

/// One delete the server is asked for: objects of a kind in a namespace,
/// by name or by selector.
struct Target {
    resource: ResourceType,
    namespace: String,
    name: Option<String>,
    selector: Option<String>,
}

/// Deletes and prints `job.batch "pi" deleted` per object.
pub fn delete(
    server: Option<&str>,
    state_dir: &Path,
    request: DeleteRequest<'_>,
) -> Result<(), CliError> {
    let targets = match request.files.is_empty() {
        false => of_files(request.files)?,
        true => of_arguments(&request)?,
    };
    let client = connect(server, state_dir)?;
    let mut deleted_any = false;
    for target in targets {
        // As kubectl: a selector is listed first, and each object deleted
        // by name, through the Kubernetes API.
        let (resource, namespace) = (target.resource, target.namespace.as_str());
        let names = match (&target.name, &target.selector) {
            (Some(name), _) => vec![name.clone()],
            (None, selector) => fetch(
                &client,
                resource,
                Some(namespace),
                selector.as_deref(),
                None,
            )?
            .iter()
            .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_owned))
            .collect(),
        };
        for name in names {
            let path = crate::api::kube::read_path(resource, Some(namespace), Some(&name));
            let _: serde_json::Value =
                client.delete(&path, &[("propagationPolicy", "Background".to_owned())])?;
            outln!("{} {name:?} deleted", name_prefix(resource));
            deleted_any = true;
        }
    }
    if !deleted_any && request.selector.is_some() {
        eprintln!("No resources found");
    }
    Ok(())
}

/// `delete -f FILE`: the objects the files name.
fn of_files(files: &[std::path::PathBuf]) -> Result<Vec<Target>, CliError> {
    let mut targets = Vec::new();
    for doc in Sources::default().load(files)? {
        let meta = doc.object.metadata();
        let resource = ResourceType::of_kind(doc.object.kind());
        targets.push(Target {
            resource,
            namespace: meta.namespace.clone(),
            name: Some(meta.name.clone()),
            selector: None,
        });
    }
    Ok(targets)
}

/// `delete KIND NAME…` or `delete KIND -l SELECTOR`.
fn of_arguments(request: &DeleteRequest<'_>) -> Result<Vec<Target>, CliError> {
    let kind = request.kind.ok_or_else(|| {
        CliError::BadInput("delete needs KIND NAME, KIND -l SELECTOR, or -f FILE".into())
    })?;
    let resource = ResourceType::parse(kind).ok_or_else(|| {
        CliError::BadInput(format!("the server doesn't have a resource type {kind:?}"))
    })?;
    let target = |name: Option<&String>, selector: Option<&str>| Target {
        resource,
        namespace: request.namespace.to_owned(),
        name: name.cloned(),
        selector: selector.map(str::to_owned),
    };
    match (request.names.is_empty(), request.selector) {
        (false, None) => Ok(request
            .names
            .iter()
            .map(|n| target(Some(n), None))
            .collect()),
        (true, Some(selector)) => Ok(vec![target(None, Some(selector))]),
        _ => Err(CliError::BadInput(
            "delete takes names or -l SELECTOR, not both and not neither".into(),
        )),
    }
}

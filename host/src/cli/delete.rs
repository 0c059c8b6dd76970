//! `wasmjob delete KIND NAME… | KIND -l SELECTOR | -f FILE`: deletes objects,
//! stopping their running instances; their history stays.

use std::path::{Path, PathBuf};

use super::CliError;
use super::remote::connect;
use super::source::Sources;
use crate::api::wire::DeleteAnswer;
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

/// Deletes and prints `job.batch "pi" deleted` per object.
pub fn delete(
    server: Option<&str>,
    state_dir: &Path,
    request: DeleteRequest<'_>,
) -> Result<(), CliError> {
    let mut targets: Vec<(ResourceType, String, Option<String>, Option<String>)> = Vec::new();
    if !request.files.is_empty() {
        for doc in Sources::default().load(request.files)? {
            let meta = doc.object.metadata();
            let kind = match doc.object.kind() {
                crate::manifest::Kind::Job => ResourceType::Jobs,
                crate::manifest::Kind::CronJob => ResourceType::CronJobs,
                crate::manifest::Kind::DaemonSet => ResourceType::DaemonSets,
            };
            targets.push((kind, meta.namespace.clone(), Some(meta.name.clone()), None));
        }
    } else {
        let kind = request.kind.ok_or_else(|| {
            CliError::BadInput("delete needs KIND NAME, KIND -l SELECTOR, or -f FILE".into())
        })?;
        let resource = ResourceType::parse(kind).ok_or_else(|| {
            CliError::BadInput(format!("the server doesn't have a resource type {kind:?}"))
        })?;
        match (request.names.is_empty(), request.selector) {
            (false, None) => {
                for name in request.names {
                    targets.push((
                        resource,
                        request.namespace.to_owned(),
                        Some(name.clone()),
                        None,
                    ));
                }
            }
            (true, Some(selector)) => targets.push((
                resource,
                request.namespace.to_owned(),
                None,
                Some(selector.to_owned()),
            )),
            _ => {
                return Err(CliError::BadInput(
                    "delete takes names or -l SELECTOR, not both and not neither".into(),
                ));
            }
        }
    }
    let client = connect(server, state_dir)?;
    let mut deleted_any = false;
    for (resource, namespace, name, selector) in targets {
        let mut query = vec![("namespace", namespace)];
        if let Some(name) = name {
            query.push(("name", name));
        }
        if let Some(selector) = selector {
            query.push(("labelSelector", selector));
        }
        let answer: DeleteAnswer =
            client.delete(&format!("/api/v1/{}", resource.plural()), &query)?;
        for (kind, name) in answer.deleted {
            println!("{kind} {name:?} deleted");
            deleted_any = true;
        }
    }
    if !deleted_any && request.selector.is_some() {
        eprintln!("No resources found");
    }
    Ok(())
}

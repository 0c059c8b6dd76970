//! `wasmjob apply -f` and `wasmjob create -f`: validate locally, send the
//! objects and the modules they need, print what happened as kubectl does.

use std::path::Path;

use base64::Engine as _;

use super::remote::connect;
use super::source::Sources;
use super::{CliError, FileArgs};
use crate::api::wire::{ApplyAnswer, ApplyBody, WireModule, WireObject};
use crate::apply::localize_for_node;
use crate::manifest::Object;
use crate::manifest::Source;

/// Applies (or, with `create_only`, creates) the objects of `-f`.
pub fn apply(
    server: Option<&str>,
    state_dir: &Path,
    args: &FileArgs,
    create_only: bool,
) -> Result<(), CliError> {
    let sources = Sources::of(&args.templates)?;
    let docs = sources.load(&args.files)?;
    let mut body = ApplyBody {
        objects: Vec::new(),
        modules: Vec::new(),
        create_only,
    };
    // Pull secrets come with the apply, or are the server's.
    let among = crate::apply::pull_secrets_among(&docs);
    let lookup = |namespace: &str, name: &str| {
        crate::apply::pull_secret_in(&among, namespace, name)
            .or_else(|| server_pull_secret(server, state_dir, namespace, name))
    };
    for doc in docs {
        if !create_only && doc.object.metadata().name_generated {
            // As kubectl: apply finds the object again by its name.
            return Err(CliError::BadInput(format!(
                "{}: document {}: metadata.generateName: cannot be used with apply, which \
                 finds the object again by its name: use wasmjob create -f",
                doc.file, doc.index
            )));
        }
        let ((doc, modules), left) =
            localize_for_node(doc, &lookup).map_err(|e| CliError::BadInput(e.to_string()))?;
        for failed in left {
            // As in Kubernetes the Job is created and its node keeps
            // pulling; unlike kubectl, say so now.
            eprintln!(
                "Warning: {}: document {}: {failed}: the node tries again with back-off \
                 (wasmjob describe job {})",
                doc.file,
                doc.index,
                doc.object.metadata().name
            );
        }
        for module in modules {
            if body.modules.iter().any(|m| m.digest == module.digest) {
                continue;
            }
            body.modules.push(WireModule {
                digest: module.digest,
                bytes: base64::engine::general_purpose::STANDARD.encode(&module.bytes),
            });
        }
        let source = Source {
            file: doc.file.clone(),
            document: doc.index,
        };
        body.objects.push(WireObject {
            source,
            object: wire_object(&doc.object),
            warnings: doc.warnings.clone(),
        });
    }
    send(&connect(server, state_dir)?, &body)
}

/// The `.dockerconfigjson` of the server's Secret `namespace/name`, read
/// through its Kubernetes API, if there is one.
fn server_pull_secret(
    server: Option<&str>,
    state_dir: &Path,
    namespace: &str,
    name: &str,
) -> Option<Vec<u8>> {
    let client = connect(server, state_dir).ok()?;
    let path = format!("/api/v1/namespaces/{namespace}/secrets/{name}");
    let secret: serde_json::Value = client.get(&path, &[]).ok()?;
    let encoded = secret["data"][crate::apply::DOCKER_CONFIG_KEY].as_str()?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
}

/// An object as the API takes it: `apiVersion`, `kind`, `metadata`, `spec`.
fn wire_object(object: &Object) -> serde_json::Value {
    let mut value = object.stored_json();
    value["apiVersion"] = serde_json::json!(object.kind().api_version());
    value["kind"] = serde_json::json!(object.kind().as_str());
    value
}

/// Sends an apply, and prints what happened to each object as kubectl does.
fn send(client: &crate::api::client::Client, body: &ApplyBody) -> Result<(), CliError> {
    let answer: ApplyAnswer = client.post("/wasmjob/v1/apply", body)?;
    for applied in answer.applied {
        outln!("{}/{} {}", applied.kind, applied.name, applied.result);
    }
    Ok(())
}

/// `create job NAME --from=cronjob/CRON`: the CronJob's template as a Job,
/// created now (annotated, as Kubernetes does, as a manual instantiation).
pub fn create_from_cronjob(
    server: Option<&str>,
    state_dir: &Path,
    name: &str,
    from: &str,
    namespace: &str,
) -> Result<(), CliError> {
    let cron_name = match from.split_once('/') {
        Some(("cronjob" | "cronjobs" | "cj" | "cronjob.batch", n)) => n,
        _ => {
            return Err(CliError::BadInput(format!(
                "--from={from:?}: expected cronjob/NAME"
            )));
        }
    };
    let client = connect(server, state_dir)?;
    let cron = &super::get::fetch_one(
        &client,
        crate::resource::ResourceType::CronJobs,
        namespace,
        cron_name,
    )?;
    let job = manual_job(&cron["spec"]["jobTemplate"], name, namespace);
    let source = Source {
        file: format!("cronjob/{cron_name}"),
        document: 1,
    };
    // Validated like any manifest before it is sent.
    let text = serde_json::to_string(&job).expect("JSON");
    crate::manifest::load_str(&text, &source.file, Path::new("/"))
        .map_err(|e| CliError::BadInput(e.to_string()))?;
    let object = WireObject {
        source,
        object: job,
        warnings: Vec::new(),
    };
    let body = ApplyBody {
        objects: vec![object],
        modules: Vec::new(),
        create_only: true,
    };
    send(&client, &body)
}

/// The Job a CronJob's `template` makes when it is instantiated by hand.
fn manual_job(template: &serde_json::Value, name: &str, namespace: &str) -> serde_json::Value {
    let mut annotations = template["metadata"]["annotations"].clone();
    if !annotations.is_object() {
        annotations = serde_json::json!({});
    }
    annotations["cronjob.kubernetes.io/instantiate"] = serde_json::json!("manual");
    let mut metadata =
        serde_json::json!({ "name": name, "namespace": namespace, "annotations": annotations });
    if template["metadata"]["labels"].is_object() {
        metadata["labels"] = template["metadata"]["labels"].clone();
    }
    serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": template["spec"].clone(),
    })
}

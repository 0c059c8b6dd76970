//! `wasmjob apply -f` and `wasmjob create -f`: validate locally, send the
//! objects and the modules they need, print what happened as kubectl does.

use std::path::Path;

use base64::Engine as _;

use super::remote::connect;
use super::source::Sources;
use super::{CliError, FileArgs};
use crate::api::wire::{ApplyAnswer, ApplyBody, WireModule, WireObject};
use crate::apply::localize;
use crate::manifest::Object;
use crate::manifest::Source;

/// Applies (or, with `create_only`, creates) the objects of `-f`.
pub fn apply(
    server: Option<&str>,
    state_dir: &Path,
    args: &FileArgs,
    create_only: bool,
) -> Result<(), CliError> {
    let sources = Sources::new(&args.templates.sets, args.templates.expand.as_deref())?;
    let docs = sources.load(&args.files)?;
    let mut body = ApplyBody {
        objects: Vec::new(),
        modules: Vec::new(),
        create_only,
    };
    for doc in docs {
        let (doc, module) = localize(doc).map_err(|e| CliError::BadInput(e.to_string()))?;
        let source = Source {
            file: doc.file.clone(),
            document: doc.index,
        };
        let object = match &doc.object {
            Object::Job(job) => serde_json::json!({
                "apiVersion": "batch/v1", "kind": "Job", "metadata": job.metadata, "spec": job.spec,
            }),
            Object::CronJob(cron) => serde_json::json!({
                "apiVersion": "batch/v1", "kind": "CronJob", "metadata": cron.metadata, "spec": cron.spec,
            }),
            Object::DaemonSet(ds) => serde_json::json!({
                "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": ds.metadata, "spec": ds.spec,
            }),
        };
        if let Some(module) = module
            && !body.modules.iter().any(|m| m.digest == module.digest)
        {
            body.modules.push(WireModule {
                digest: module.digest,
                bytes: base64::engine::general_purpose::STANDARD.encode(&module.bytes),
            });
        }
        body.objects.push(WireObject { source, object });
    }
    let client = connect(server, state_dir)?;
    let answer: ApplyAnswer = client.post("/api/v1/apply", &body)?;
    for applied in answer.applied {
        println!("{}/{} {}", applied.kind, applied.name, applied.result);
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
    let template = &cron["spec"]["jobTemplate"];
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
    let job = serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": template["spec"].clone(),
    });
    let source = Source {
        file: format!("cronjob/{cron_name}"),
        document: 1,
    };
    // Validated like any manifest before it is sent.
    let text = serde_json::to_string(&job).expect("JSON");
    crate::manifest::load_str(&text, &source.file, Path::new("/"))
        .map_err(|e| CliError::BadInput(e.to_string()))?;
    let body = ApplyBody {
        objects: vec![WireObject {
            source,
            object: job,
        }],
        modules: Vec::new(),
        create_only: true,
    };
    let answer: ApplyAnswer = client.post("/api/v1/apply", &body)?;
    for applied in answer.applied {
        println!("{}/{} {}", applied.kind, applied.name, applied.result);
    }
    Ok(())
}

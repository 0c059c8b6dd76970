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
use crate::runner::Source;

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
            other => {
                return Err(CliError::BadInput(format!(
                    "{}: document {}: kind: {} is not served by this version of wasmjob yet",
                    doc.file,
                    doc.index,
                    other.kind().as_str()
                )));
            }
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

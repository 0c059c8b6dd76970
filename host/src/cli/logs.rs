//! `wasmjob logs`: an instance's log, a Job's, or those of a label selector,
//! every line prefixed by its instance when there are several.

use std::path::Path;

use super::CliError;
use super::remote::connect;
use crate::api::wire::LogEntry;

/// What `logs` was asked for.
pub struct LogsRequest<'a> {
    /// `NAME`, `instance/NAME`, `pods/NAME` or `job/NAME`.
    pub target: Option<&'a str>,
    /// `-l`.
    pub selector: Option<&'a str>,
    /// `-n`.
    pub namespace: &'a str,
    /// Every attempt, oldest first.
    pub all_attempts: bool,
    /// The attempt before the last.
    pub previous: bool,
}

/// Prints the logs.
pub fn logs(
    server: Option<&str>,
    state_dir: &Path,
    request: LogsRequest<'_>,
) -> Result<(), CliError> {
    let mut query = vec![("namespace", request.namespace.to_owned())];
    match (request.target, request.selector) {
        (Some(target), None) => match target.split_once('/') {
            Some(("job" | "jobs" | "job.batch" | "jobs.batch", name)) => {
                query.push(("job", name.to_owned()))
            }
            Some(("instance" | "instances" | "inst" | "pod" | "pods" | "po", name)) => {
                query.push(("name", name.to_owned()))
            }
            Some((kind, _)) => {
                return Err(CliError::BadInput(format!(
                    "logs of {kind:?}: name an instance, job/NAME, or use -l"
                )));
            }
            None => query.push(("name", target.to_owned())),
        },
        (None, Some(selector)) => query.push(("labelSelector", selector.to_owned())),
        _ => {
            return Err(CliError::BadInput(
                "logs takes an instance name, job/NAME, or -l SELECTOR (one of them)".into(),
            ));
        }
    }
    if request.all_attempts {
        query.push(("allAttempts", "true".into()));
    }
    if request.previous {
        query.push(("previous", "true".into()));
    }
    let client = connect(server, state_dir)?;
    let entries: Vec<LogEntry> = client.get("/api/v1/logs", &query)?;
    let instances: std::collections::BTreeSet<&str> =
        entries.iter().map(|e| e.instance.as_str()).collect();
    let several = instances.len() > 1 || request.all_attempts;
    let mut out = String::new();
    for entry in &entries {
        for line in entry.text.lines() {
            if several {
                if request.all_attempts {
                    out.push_str(&format!(
                        "[{} attempt {}] ",
                        entry.instance,
                        entry.attempt + 1
                    ));
                } else {
                    out.push_str(&format!("[{}] ", entry.instance));
                }
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    print!("{out}");
    Ok(())
}

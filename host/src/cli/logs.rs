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
    /// Keep printing until the Jobs finish.
    pub follow: bool,
    /// `--level`: only structured records at or above it.
    pub level: Option<&'a str>,
    /// `--field KEY=VALUE`: only structured records with these fields.
    pub fields: &'a [String],
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
    if let Some(level) = request.level {
        query.push(("level", level.to_owned()));
    }
    if !request.fields.is_empty() {
        if let Some(bad) = request.fields.iter().find(|f| !f.contains('=')) {
            return Err(CliError::BadInput(format!(
                "--field {bad:?}: expected KEY=VALUE"
            )));
        }
        query.push(("fields", request.fields.join(",")));
    }
    let client = connect(server, state_dir)?;
    if request.follow {
        return follow(&client, query, request.namespace);
    }
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

/// `logs -f`: every attempt's output as it ends, each line prefixed by its
/// instance, until every Job of the selected instances has finished.
fn follow(
    client: &crate::api::client::Client,
    mut query: Vec<(&'static str, String)>,
    namespace: &str,
) -> Result<(), CliError> {
    use crate::resource::ResourceType;
    use std::io::Write as _;
    query.push(("allAttempts", "true".into()));
    let instance_query: Vec<(&str, String)> = query
        .iter()
        .filter(|(k, _)| *k != "allAttempts")
        .cloned()
        .collect();
    let mut printed = std::collections::BTreeSet::new();
    loop {
        let entries: Vec<LogEntry> = match client.get("/api/v1/logs", &query) {
            Ok(entries) => entries,
            Err(crate::api::client::ClientError::Status { status: 404, .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            if printed.insert((entry.instance.clone(), entry.attempt)) {
                for line in entry.text.lines() {
                    println!("[{}] {line}", entry.instance);
                }
                let _ = std::io::stdout().flush();
            }
        }
        let instances: serde_json::Value = client.get(
            &format!("/api/v1/{}", ResourceType::Instances.plural()),
            &instance_query,
        )?;
        let instances = instances["items"].as_array().cloned().unwrap_or_default();
        let jobs: std::collections::BTreeSet<String> = instances
            .iter()
            .filter_map(|i| {
                i["metadata"]["labels"]["job-name"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        let mut all_finished = !jobs.is_empty();
        for job in &jobs {
            let found =
                super::get::fetch(client, ResourceType::Jobs, Some(namespace), None, Some(job))?;
            let status: crate::manifest::JobStatus = found
                .first()
                .and_then(|j| serde_json::from_value(j["status"].clone()).ok())
                .unwrap_or_default();
            all_finished &= status.is_finished() || found.is_empty();
        }
        let logged = instances.iter().all(|i| {
            i["status"]["phase"] == "Running"
                || printed
                    .iter()
                    .any(|(n, _)| i["metadata"]["name"] == n.as_str())
        });
        if all_finished && logged {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

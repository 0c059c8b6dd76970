//! `wasmjob logs`: an instance's log, a Job's, or those of a label selector,
//! every line prefixed by its instance when there are several.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;

use super::CliError;
use super::remote::connect;
use crate::api::client::Client;
use crate::api::wire::LogEntry;
use crate::resource::ResourceType;

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
    /// `-c NAME`: only this container's output.
    pub container: Option<&'a str>,
}

/// Prints the logs.
pub fn logs(
    server: Option<&str>,
    state_dir: &Path,
    request: LogsRequest<'_>,
) -> Result<(), CliError> {
    let query = query(&request)?;
    let client = connect(server, state_dir)?;
    if request.follow {
        return follow(&client, query, request.namespace, request.container);
    }
    let entries: Vec<LogEntry> = client.get("/wasmjob/v1/logs", &query)?;
    let instances: BTreeSet<&str> = entries.iter().map(|e| e.instance.as_str()).collect();
    let several = instances.len() > 1 || request.all_attempts;
    let mut out = String::new();
    for entry in &entries {
        for line in crate::executor::pod::container_lines(&entry.text, request.container) {
            match (several, request.all_attempts) {
                (false, _) => {}
                (true, true) => {
                    let attempt = entry.attempt + 1;
                    out.push_str(&format!("[{} attempt {attempt}] ", entry.instance));
                }
                (true, false) => out.push_str(&format!("[{}] ", entry.instance)),
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    out!("{out}");
    Ok(())
}

/// The query string of the logs asked for.
fn query(request: &LogsRequest<'_>) -> Result<Vec<(&'static str, String)>, CliError> {
    let mut query = vec![("namespace", request.namespace.to_owned())];
    query.push(target(request.target, request.selector)?);
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
    Ok(query)
}

/// Whose logs: an instance, a Job's instances, or those a selector picks.
fn target(
    target: Option<&str>,
    selector: Option<&str>,
) -> Result<(&'static str, String), CliError> {
    let Some(target) = target else {
        return match selector {
            Some(selector) => Ok(("labelSelector", selector.to_owned())),
            None => Err(one_target()),
        };
    };
    if selector.is_some() {
        return Err(one_target());
    }
    match target.split_once('/') {
        Some(("job" | "jobs" | "job.batch" | "jobs.batch", name)) => Ok(("job", name.to_owned())),
        Some(("instance" | "instances" | "inst" | "pod" | "pods" | "po", name)) => {
            Ok(("name", name.to_owned()))
        }
        Some((kind, _)) => Err(CliError::BadInput(format!(
            "logs of {kind:?}: name an instance, job/NAME, or use -l"
        ))),
        None => Ok(("name", target.to_owned())),
    }
}

fn one_target() -> CliError {
    CliError::BadInput("logs takes an instance name, job/NAME, or -l SELECTOR (one of them)".into())
}

/// `logs -f`: every attempt's output as it ends, each line prefixed by its
/// instance, until every Job of the selected instances has finished.
fn follow(
    client: &Client,
    mut query: Vec<(&'static str, String)>,
    namespace: &str,
    container: Option<&str>,
) -> Result<(), CliError> {
    query.push(("allAttempts", "true".into()));
    let instance_query: Vec<(&str, String)> = query
        .iter()
        .filter(|(k, _)| *k != "allAttempts")
        .cloned()
        .collect();
    let mut printed = BTreeSet::new();
    loop {
        print_new(client, &query, &mut printed, container)?;
        let path = format!("/wasmjob/v1/{}", ResourceType::Instances.plural());
        let instances: serde_json::Value = client.get(&path, &instance_query)?;
        let instances = instances["items"].as_array().cloned().unwrap_or_default();
        let logged = instances.iter().all(|i| {
            let name = &i["metadata"]["name"];
            i["status"]["phase"] == "Running" || printed.iter().any(|(n, _)| name == n.as_str())
        });
        if logged && jobs_finished(client, &instances, namespace)? {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Prints the attempts not printed yet.
fn print_new(
    client: &Client,
    query: &[(&'static str, String)],
    printed: &mut BTreeSet<(String, u32)>,
    container: Option<&str>,
) -> Result<(), CliError> {
    let entries: Vec<LogEntry> = match client.get("/wasmjob/v1/logs", query) {
        Ok(entries) => entries,
        Err(crate::api::client::ClientError::Status { status: 404, .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        if printed.insert((entry.instance.clone(), entry.attempt)) {
            for line in crate::executor::pod::container_lines(&entry.text, container) {
                outln!("[{}] {line}", entry.instance);
            }
            let _ = std::io::stdout().flush();
        }
    }
    Ok(())
}

/// Whether every Job of `instances` has finished (or is gone).
fn jobs_finished(
    client: &Client,
    instances: &[serde_json::Value],
    namespace: &str,
) -> Result<bool, CliError> {
    let jobs: BTreeSet<String> = instances
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
    Ok(all_finished)
}

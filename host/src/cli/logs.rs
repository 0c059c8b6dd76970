//! `wasmjob logs`: an instance's log, a Job's, a DaemonSet's, or those of
//! a label selector, every line prefixed by its instance when there are
//! several; with `-f`, as it is written (a stream from the server).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;

use super::CliError;
use super::remote::connect;
use crate::api::wire::LogEntry;

/// What `logs` was asked for.
pub struct LogsRequest<'a> {
    /// `NAME`, `instance/NAME`, `pods/NAME`, `job/NAME` or `ds/NAME`.
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
    /// `--timestamps`.
    pub timestamps: bool,
    /// `--since DURATION`.
    pub since: Option<&'a str>,
    /// `--since-time TIME`.
    pub since_time: Option<&'a str>,
    /// `--tail N`; negative: all.
    pub tail: i64,
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
        return follow(&client, query, &request);
    }
    let entries: Vec<LogEntry> = client.get("/wasmjob/v1/logs", &query)?;
    let instances: BTreeSet<&str> = entries.iter().map(|e| e.instance.as_str()).collect();
    let several = instances.len() > 1 || request.all_attempts;
    let mut out = String::new();
    for entry in &entries {
        for line in entry.text.lines() {
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
    if let Some(container) = request.container {
        query.push(("container", container.to_owned()));
    }
    if request.timestamps {
        query.push(("timestamps", "true".into()));
    }
    if let Some(since) = request.since {
        let duration = crate::time::parse_duration(since)
            .map_err(|e| CliError::BadInput(format!("--since {since:?}: {e}")))?;
        query.push(("sinceSeconds", duration.as_secs().max(1).to_string()));
    }
    if let Some(time) = request.since_time {
        if time.parse::<jiff::Timestamp>().is_err() {
            return Err(CliError::BadInput(format!(
                "--since-time {time:?}: expected an RFC 3339 time such as 2026-12-06T10:00:00Z"
            )));
        }
        query.push(("sinceTime", time.to_owned()));
    }
    if request.tail >= 0 {
        query.push(("tailLines", request.tail.to_string()));
    }
    Ok(query)
}

/// Whose logs: an instance, a Job's or a DaemonSet's instances, or those a
/// selector picks.
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
        Some(("ds" | "daemonset" | "daemonsets" | "daemonset.apps" | "daemonsets.apps", name)) => {
            Ok(("daemonset", name.to_owned()))
        }
        Some(("instance" | "instances" | "inst" | "pod" | "pods" | "po", name)) => {
            Ok(("name", name.to_owned()))
        }
        Some((kind, _)) => Err(CliError::BadInput(format!(
            "logs of {kind:?}: name an instance, job/NAME, ds/NAME, or use -l"
        ))),
        None => Ok(("name", target.to_owned())),
    }
}

fn one_target() -> CliError {
    CliError::BadInput(
        "logs takes an instance name, job/NAME, ds/NAME, or -l SELECTOR (one of them)".into(),
    )
}

/// `logs -f`: the server's stream of new output, each line prefixed by its
/// instance when the logs are of several (and by its attempt with
/// `--all-attempts`), until the server ends it. Every attempt is followed,
/// a restart's too.
fn follow(
    client: &crate::api::client::Client,
    mut query: Vec<(&'static str, String)>,
    request: &LogsRequest<'_>,
) -> Result<(), CliError> {
    query.push(("follow", "true".into()));
    let one = request.selector.is_none()
        && request.target.is_some_and(|t| {
            !t.contains('/')
                || t.split_once('/')
                    .is_some_and(|(k, _)| k.starts_with("po") || k.starts_with("inst"))
        });
    let mut refused = None;
    client.get_lines("/wasmjob/v1/logs", &query, |line| {
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(_) => return true,
        };
        if let Some(error) = value["error"].as_str() {
            refused = Some(error.to_owned());
            return false;
        }
        let Ok(entry) = serde_json::from_value::<LogEntry>(value) else {
            return true;
        };
        let mut out = String::new();
        for text in entry.text.lines() {
            match (request.all_attempts, one) {
                (true, _) => {
                    let attempt = entry.attempt + 1;
                    out.push_str(&format!("[{} attempt {attempt}] ", entry.instance));
                }
                (false, false) => out.push_str(&format!("[{}] ", entry.instance)),
                (false, true) => {}
            }
            out.push_str(text);
            out.push('\n');
        }
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`| head`) ends the stream.
        stdout.write_all(out.as_bytes()).is_ok() && stdout.flush().is_ok()
    })?;
    match refused {
        Some(error) => Err(CliError::Failed(error)),
        None => Ok(()),
    }
}

//! `wasmjob queue`: the embedded work queue, read and written straight in
//! the state directory's database (SQLite lets the node and this command
//! share it), so items can be pushed before any server runs.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::run::DATABASE_FILE;
use super::{CliError, QueueCommand, table};
use crate::queue::EmbeddedQueue;

/// Carries out one `queue` subcommand.
pub fn queue(state_dir: &Path, command: QueueCommand) -> Result<(), CliError> {
    let db = state_dir.join(DATABASE_FILE);
    match command {
        QueueCommand::Push { name, items, file } => push(&db, &name, items, file),
        QueueCommand::Ls => list(&db),
        QueueCommand::Stats { name, output } => stats(&db, name, output.as_deref()),
        QueueCommand::Purge { name } => {
            let count = open(&db, &name)?.purge().map_err(failed)?;
            outln!("purged {count} item{} from queue {name}", plural(count));
            Ok(())
        }
    }
}

/// The embedded queue `name` of the database `db`.
fn open(db: &Path, name: &str) -> Result<EmbeddedQueue, CliError> {
    if name.trim().is_empty() {
        return Err(CliError::BadInput(
            "the queue name must not be empty".into(),
        ));
    }
    EmbeddedQueue::open(db, name).map_err(failed)
}

fn failed(e: crate::queue::QueueError) -> CliError {
    CliError::Failed(e.to_string())
}

/// `queue push NAME ITEM… [--file FILE]`.
fn push(db: &Path, name: &str, items: Vec<String>, file: Option<PathBuf>) -> Result<(), CliError> {
    let mut all: Vec<Vec<u8>> = items.into_iter().map(String::into_bytes).collect();
    if let Some(file) = file {
        all.extend(read_lines(&file)?);
    }
    if all.is_empty() {
        return Err(CliError::BadInput(
            "nothing to push: give items as arguments or --file FILE (- for stdin)".into(),
        ));
    }
    let count = open(db, name)?.push(all).map_err(failed)?;
    outln!("pushed {count} item{} to queue {name}", plural(count));
    Ok(())
}

/// `queue ls`: every queue that holds items.
fn list(db: &Path) -> Result<(), CliError> {
    let queues = EmbeddedQueue::list(db).map_err(failed)?;
    let rows: Vec<Vec<String>> = queues
        .into_iter()
        .map(|(name, s)| vec![name, s.waiting.to_string(), s.leased.to_string()])
        .collect();
    if rows.is_empty() {
        eprintln!("No queues hold items.");
    } else {
        out!("{}", table::render(&["NAME", "WAITING", "LEASED"], &rows));
    }
    Ok(())
}

/// `queue stats NAME [-o json|yaml]`.
fn stats(db: &Path, name: String, output: Option<&str>) -> Result<(), CliError> {
    let stats = open(db, &name)?.stats().map_err(failed)?;
    let value = serde_json::json!({
        "name": name,
        "waiting": stats.waiting,
        "leased": stats.leased,
    });
    match output {
        None | Some("wide") => {
            let row = vec![name, stats.waiting.to_string(), stats.leased.to_string()];
            out!("{}", table::render(&["NAME", "WAITING", "LEASED"], &[row]));
        }
        Some("json") => outln!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON value")
        ),
        Some("yaml") => out!("{}", serde_yaml_ng::to_string(&value).expect("YAML value")),
        Some(other) => {
            return Err(CliError::BadInput(format!(
                "unknown output format {other:?}: use json or yaml"
            )));
        }
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Non-empty lines of a file, or of stdin for `-`.
fn read_lines(file: &PathBuf) -> Result<Vec<Vec<u8>>, CliError> {
    let mut text = String::new();
    let read = if file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text))
    };
    read.map_err(|e| CliError::BadInput(format!("cannot read {}: {e}", file.display())))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.as_bytes().to_vec())
        .collect())
}

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
    let open = |name: &str| {
        if name.trim().is_empty() {
            return Err(CliError::BadInput(
                "the queue name must not be empty".into(),
            ));
        }
        EmbeddedQueue::open(&db, name).map_err(|e| CliError::Failed(e.to_string()))
    };
    let failed = |e: crate::queue::QueueError| CliError::Failed(e.to_string());
    match command {
        QueueCommand::Push { name, items, file } => {
            let mut all: Vec<Vec<u8>> = items.into_iter().map(String::into_bytes).collect();
            if let Some(file) = file {
                all.extend(read_lines(&file)?);
            }
            if all.is_empty() {
                return Err(CliError::BadInput(
                    "nothing to push: give items as arguments or --file FILE (- for stdin)".into(),
                ));
            }
            let queue = open(&name)?;
            let count = queue.push(all).map_err(failed)?;
            println!("pushed {count} item{} to queue {name}", plural(count));
        }
        QueueCommand::Ls => {
            let queues = EmbeddedQueue::list(&db).map_err(failed)?;
            let rows: Vec<Vec<String>> = queues
                .into_iter()
                .map(|(name, s)| vec![name, s.waiting.to_string(), s.leased.to_string()])
                .collect();
            if rows.is_empty() {
                eprintln!("No queues hold items.");
            } else {
                print!("{}", table::render(&["NAME", "WAITING", "LEASED"], &rows));
            }
        }
        QueueCommand::Stats { name, output } => {
            let stats = open(&name)?.stats().map_err(failed)?;
            let value = serde_json::json!({
                "name": name,
                "waiting": stats.waiting,
                "leased": stats.leased,
            });
            match output.as_deref() {
                None | Some("wide") => print!(
                    "{}",
                    table::render(
                        &["NAME", "WAITING", "LEASED"],
                        &[vec![
                            name,
                            stats.waiting.to_string(),
                            stats.leased.to_string()
                        ]],
                    )
                ),
                Some("json") => println!(
                    "{}",
                    serde_json::to_string_pretty(&value).expect("JSON value")
                ),
                Some("yaml") => print!("{}", serde_yaml_ng::to_string(&value).expect("YAML value")),
                Some(other) => {
                    return Err(CliError::BadInput(format!(
                        "unknown output format {other:?}: use json or yaml"
                    )));
                }
            }
        }
        QueueCommand::Purge { name } => {
            let count = open(&name)?.purge().map_err(failed)?;
            println!("purged {count} item{} from queue {name}", plural(count));
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

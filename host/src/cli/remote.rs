//! What the client verbs share: finding the server and its token, reading
//! manifests from files, directories or stdin, and mapping client errors to
//! exit codes.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::CliError;
use crate::api::client::{Client, ClientError};
use crate::api::{DEFAULT_LISTEN, TOKEN_FILE};
use crate::manifest::{self, Document};

/// Connects to `--server` (or `WASMJOB_SERVER`, or the local default) with
/// the token from `WASMJOB_TOKEN` or the state directory.
pub fn connect(server: Option<&str>, state_dir: &Path) -> Result<Client, CliError> {
    let server = match server {
        Some(s) if s.contains("://") => s.to_owned(),
        Some(s) => format!("http://{s}"),
        None => format!("http://{DEFAULT_LISTEN}"),
    };
    let token = match std::env::var("WASMJOB_TOKEN") {
        Ok(token) if !token.is_empty() => token,
        _ => std::fs::read_to_string(state_dir.join(TOKEN_FILE))
            .map(|t| t.trim().to_owned())
            .unwrap_or_default(),
    };
    Ok(Client::new(&server, &token))
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        if e.is_bad_input() {
            CliError::BadInput(e.to_string())
        } else {
            CliError::Failed(e.to_string())
        }
    }
}

/// The manifests named by `-f`: files, directories (their `.yaml`, `.yml`
/// and `.json` files, in name order) or `-` for stdin.
pub fn load_manifests(paths: &[PathBuf]) -> Result<Vec<Document>, CliError> {
    let mut docs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::BadInput(format!("<stdin>: cannot read: {e}")))?;
            let base = std::env::current_dir().unwrap_or_default();
            docs.extend(manifest::load_str(&text, "<stdin>", &base).map_err(bad)?);
        } else if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| CliError::BadInput(format!("{}: cannot list: {e}", path.display())))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension()
                        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
                })
                .collect();
            files.sort();
            for file in files {
                docs.extend(manifest::load_file(&file).map_err(bad)?);
            }
        } else {
            docs.extend(manifest::load_file(path).map_err(bad)?);
        }
    }
    Ok(docs)
}

fn bad(e: manifest::ManifestError) -> CliError {
    CliError::BadInput(e.to_string())
}

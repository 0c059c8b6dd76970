//! What the client verbs share: finding the server and its token, and
//! mapping client errors to exit codes.

use std::path::Path;

use super::CliError;
use crate::api::client::{Client, ClientError};
use crate::api::{DEFAULT_LISTEN, TOKEN_FILE};

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

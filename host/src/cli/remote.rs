//! What the client verbs share: finding the server and its token, and
//! mapping client errors to exit codes.

use std::path::Path;

use super::CliError;
use crate::api::client::{Client, ClientError};
use crate::api::kubeconfig::KUBECONFIG_FILE;
use crate::api::{DEFAULT_LISTEN, TOKEN_FILE, tls};

/// Connects to `--server` (or `WASMJOB_SERVER`, or the local default) with
/// the token from `WASMJOB_TOKEN` or the state directory.
///
/// An address without a scheme is reached as the node in the state
/// directory serves: `https` when its kubeconfig says so (the default), the
/// CA trusted being the node's `tls/ca.crt` (or the file `WASMJOB_CA`
/// names, for a client on another machine).
pub fn connect(server: Option<&str>, state_dir: &Path) -> Result<Client, CliError> {
    let scheme = served_scheme(state_dir).unwrap_or("https");
    let server = match server {
        Some(s) if s.contains("://") => s.to_owned(),
        Some(s) => format!("{scheme}://{s}"),
        None => format!("{scheme}://{DEFAULT_LISTEN}"),
    };
    let token = match std::env::var("WASMJOB_TOKEN") {
        Ok(token) if !token.is_empty() => token,
        _ => std::fs::read_to_string(state_dir.join(TOKEN_FILE))
            .map(|t| t.trim().to_owned())
            .unwrap_or_default(),
    };
    let ca_file = match std::env::var_os("WASMJOB_CA") {
        Some(path) if !path.is_empty() => std::path::PathBuf::from(path),
        _ => state_dir.join(tls::TLS_DIR).join(tls::CA_FILE),
    };
    let ca = std::fs::read(ca_file).ok();
    Ok(Client::trusting(&server, &token, ca.as_deref()))
}

/// Patches one object through the node's Kubernetes API, as kubectl
/// does: `content_type` says the kind of patch (strategic, merge, JSON).
pub fn patch(
    client: &Client,
    (resource, namespace, name): (crate::resource::ResourceType, &str, &str),
    content_type: &str,
    patch: &serde_json::Value,
) -> Result<(), CliError> {
    let path = crate::api::kube::object_path(resource, namespace, name);
    let body = serde_json::to_vec(patch).expect("JSON");
    let _: serde_json::Value = client.patch(&path, content_type, &body)?;
    Ok(())
}

/// `https` or `http`, as the last `serve` of the state directory wrote in
/// its kubeconfig; none when no server has run there.
fn served_scheme(state_dir: &Path) -> Option<&'static str> {
    let text = std::fs::read_to_string(state_dir.join(KUBECONFIG_FILE)).ok()?;
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))?;
    Some(match server.trim_matches('"').starts_with("https://") {
        true => "https",
        false => "http",
    })
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

//! `wasmjob create token NAME`: a ServiceAccount's token from the node's
//! TokenRequest API, printed as `kubectl create token` prints it, or
//! written as a kubeconfig of its own (mode 0600) that `kubectl` and
//! `wasmjob` (`WASMJOB_TOKEN`) use as that account.

use std::path::Path;

use super::CliError;
use crate::api::kubeconfig;

/// What `create token` was asked.
pub struct TokenArgs<'a> {
    /// The ServiceAccount.
    pub name: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// `--duration`.
    pub duration: Option<&'a str>,
    /// `--audience`s.
    pub audiences: &'a [String],
    /// `--write-kubeconfig`.
    pub kubeconfig: Option<&'a Path>,
}

/// Asks the node for a token and prints it or writes the kubeconfig.
pub fn create_token(
    server: Option<&str>,
    state_dir: &Path,
    args: &TokenArgs<'_>,
) -> Result<(), CliError> {
    let mut spec = serde_json::json!({"audiences": args.audiences});
    if let Some(text) = args.duration {
        let seconds = crate::time::parse_duration(text)
            .map_err(|e| CliError::BadInput(format!("--duration: {e}")))?
            .as_secs();
        spec["expirationSeconds"] = seconds.into();
    }
    let body = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": spec,
    });
    let client = super::remote::connect(server, state_dir)?;
    let path = format!(
        "/api/v1/namespaces/{}/serviceaccounts/{}/token",
        args.namespace, args.name
    );
    let answer: serde_json::Value = client.post(&path, &body)?;
    let token = answer["status"]["token"].as_str().unwrap_or_default();
    let Some(file) = args.kubeconfig else {
        println!("{token}");
        return Ok(());
    };
    let ca_file = match std::env::var_os("WASMJOB_CA") {
        Some(path) if !path.is_empty() => std::path::PathBuf::from(path),
        _ => state_dir
            .join(crate::api::tls::TLS_DIR)
            .join(crate::api::tls::CA_FILE),
    };
    let ca = std::fs::read_to_string(ca_file).ok();
    let ca = ca
        .as_deref()
        .filter(|_| client.server().starts_with("https://"));
    let user = format!("{}-{}", args.namespace, args.name);
    let expires = answer["status"]["expirationTimestamp"]
        .as_str()
        .unwrap_or("");
    let note = format!(
        "ServiceAccount {}/{}, written by wasmjob create token; expires {expires}",
        args.namespace, args.name
    );
    let identity = kubeconfig::Identity {
        user: &user,
        namespace: args.namespace,
        note: &note,
    };
    let text = kubeconfig::render_for(client.server(), token, &identity, ca);
    crate::secrets::write_private(file, text.as_bytes())
        .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", file.display())))?;
    println!(
        "kubeconfig for serviceaccount/{} (namespace {}) written to {}",
        args.name,
        args.namespace,
        file.display()
    );
    Ok(())
}

//! `<state dir>/kubeconfig`: what `kubectl` and the Kubernetes client
//! libraries need to reach this node's API (the server's address and the
//! token), written at every start with mode 0600, as k3s writes its
//! `k3s.yaml`: `export KUBECONFIG=<state dir>/kubeconfig` is the whole
//! setup.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file's name in the state directory.
pub const KUBECONFIG_FILE: &str = "kubeconfig";

/// The URL clients on this machine reach a listener bound to `bound` at:
/// a wildcard address is reached on loopback.
pub fn server_url(bound: SocketAddr, scheme: &str) -> String {
    let ip = match bound.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("{scheme}://{ip}:{}", bound.port())
}

/// The admin's kubeconfig of node `node`: one cluster, one user, one
/// context, current. `ca_pem`, when the server speaks TLS, is the CA
/// clients trust it by.
pub fn render(server: &str, token: &str, node: &str, ca_pem: Option<&str>) -> String {
    let identity = Identity {
        user: "wasmjob-admin",
        namespace: "default",
        note: &format!("written by wasmjob serve on node {node}"),
    };
    render_for(server, token, &identity, ca_pem)
}

/// Whose kubeconfig: the user's name in it, the context's namespace, and
/// a comment saying where it came from.
pub struct Identity<'a> {
    /// The `users[0].name`.
    pub user: &'a str,
    /// The context's namespace.
    pub namespace: &'a str,
    /// The closing comment.
    pub note: &'a str,
}

/// A kubeconfig for `identity`, holding its `token`.
pub fn render_for(
    server: &str,
    token: &str,
    identity: &Identity<'_>,
    ca_pem: Option<&str>,
) -> String {
    use base64::Engine as _;
    let authority = match ca_pem {
        Some(pem) => format!(
            "    certificate-authority-data: {}\n",
            base64::engine::general_purpose::STANDARD.encode(pem)
        ),
        None => String::new(),
    };
    // Quoted as JSON strings, which YAML reads as the same strings.
    let q = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: wasmjob\n  cluster:\n    server: {server}\n{authority}\
         users:\n\
         - name: {user}\n  user:\n    token: {token}\n\
         contexts:\n\
         - name: wasmjob\n  context:\n    cluster: wasmjob\n    user: {user}\n    namespace: {namespace}\n\
         current-context: wasmjob\n\
         preferences: {{}}\n\
         # {note}\n",
        server = q(server),
        token = q(token),
        user = q(identity.user),
        namespace = q(identity.namespace),
        note = identity.note.replace('\n', " "),
    )
}

/// Writes the kubeconfig into `state_dir` (0600: it holds the token),
/// replacing it whole.
pub fn write(state_dir: &Path, text: &str) -> std::io::Result<PathBuf> {
    let path = state_dir.join(KUBECONFIG_FILE);
    let partial = state_dir.join(format!("{KUBECONFIG_FILE}.partial"));
    crate::secrets::write_private(&partial, text.as_bytes())?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listener_is_reached_on_loopback() {
        let any: SocketAddr = "0.0.0.0:7433".parse().unwrap();
        assert_eq!(server_url(any, "https"), "https://127.0.0.1:7433");
        let v6: SocketAddr = "[::]:80".parse().unwrap();
        assert_eq!(server_url(v6, "http"), "http://[::1]:80");
        let one: SocketAddr = "10.0.0.5:9000".parse().unwrap();
        assert_eq!(server_url(one, "http"), "http://10.0.0.5:9000");
    }

    #[test]
    fn the_kubeconfig_is_yaml_with_one_current_context() {
        let text = render("http://127.0.0.1:1", "t0k", "n1", Some("PEM"));
        let parsed: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(parsed["current-context"], "wasmjob");
        assert_eq!(
            parsed["clusters"][0]["cluster"]["server"],
            "http://127.0.0.1:1"
        );
        assert_eq!(
            parsed["clusters"][0]["cluster"]["certificate-authority-data"],
            "UEVN"
        );
        assert_eq!(parsed["users"][0]["user"]["token"], "t0k");
        assert_eq!(parsed["contexts"][0]["context"]["namespace"], "default");
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

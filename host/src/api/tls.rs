//! The API's TLS: a CA the node makes on its first start (`<state
//! dir>/tls/ca.crt`, its key `ca.key` 0600), and a server certificate it
//! signs at every start for the names and addresses the node is reached
//! by. Clients trust the CA: `kubectl` through the kubeconfig, the CLI by
//! reading `ca.crt`. In a cluster every node takes the first node's CA, as
//! it takes its token, so one CA file reaches every node.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// The directory under the state directory.
pub const TLS_DIR: &str = "tls";
/// The CA certificate clients trust, PEM.
pub const CA_FILE: &str = "ca.crt";
const CA_KEY_FILE: &str = "ca.key";

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A key or certificate could not be made or read.
    #[error(
        "the API's certificate authority in {0} cannot be used ({1}); move the tls directory \
         away and start again to make a new one"
    )]
    Certificate(PathBuf, String),
}

/// A CA: its certificate (PEM) and key (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// The certificate clients trust.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl Authority {
    /// The CA as one text (certificate then key), for sharing in a cluster.
    pub fn to_text(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }

    /// Reads [`Authority::to_text`]'s form.
    pub fn from_text(text: &str) -> Option<Authority> {
        let at = text.find("-----BEGIN PRIVATE KEY-----")?;
        Some(Authority {
            cert_pem: text[..at].to_owned(),
            key_pem: text[at..].to_owned(),
        })
    }
}

/// The CA's name; the same every time, so a server certificate signed with
/// the stored key names the stored certificate as its issuer.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "wasmjob API CA");
    name.push(DnType::OrganizationName, "wasmjob");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn failed(dir: &Path) -> impl Fn(rcgen::Error) -> TlsError + '_ {
    move |e| TlsError::Certificate(dir.to_owned(), e.to_string())
}

/// The CA in `state_dir/tls`, made if there is none.
pub fn authority(state_dir: &Path) -> Result<Authority, TlsError> {
    let dir = state_dir.join(TLS_DIR);
    let (cert, key) = (dir.join(CA_FILE), dir.join(CA_KEY_FILE));
    if let (Ok(cert_pem), Ok(key_pem)) = (
        std::fs::read_to_string(&cert),
        std::fs::read_to_string(&key),
    ) {
        return Ok(Authority { cert_pem, key_pem });
    }
    let key_pair = KeyPair::generate().map_err(failed(&dir))?;
    let cert_pem = ca_params()
        .self_signed(&key_pair)
        .map_err(failed(&dir))?
        .pem();
    let made = Authority {
        cert_pem,
        key_pem: key_pair.serialize_pem(),
    };
    keep(state_dir, &made)?;
    Ok(made)
}

/// Writes `authority` into `state_dir/tls` (the key 0600), replacing what
/// is there: a cluster node takes the cluster's.
pub fn keep(state_dir: &Path, authority: &Authority) -> Result<(), TlsError> {
    let dir = state_dir.join(TLS_DIR);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::File { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let key = dir.join(CA_KEY_FILE);
    crate::secrets::write_private(&key, authority.key_pem.as_bytes()).map_err(io(&key))?;
    let cert = dir.join(CA_FILE);
    std::fs::write(&cert, &authority.cert_pem).map_err(io(&cert))?;
    Ok(())
}

/// A server configuration with a certificate for `names` (DNS names and IP
/// addresses) signed by `authority`.
pub fn server_config(
    state_dir: &Path,
    authority: &Authority,
    names: &[String],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let dir = state_dir.join(TLS_DIR);
    let ca_key = KeyPair::from_pem(&authority.key_pem).map_err(failed(&dir))?;
    let issuer = Issuer::new(ca_params(), ca_key);
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "wasmjob API");
    for name in names {
        let san = match name.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(name.clone().try_into().map_err(failed(&dir))?),
        };
        if !params.subject_alt_names.contains(&san) {
            params.subject_alt_names.push(san);
        }
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key_pair = KeyPair::generate().map_err(failed(&dir))?;
    let cert = params.signed_by(&key_pair, &issuer).map_err(failed(&dir))?;
    let chain = vec![cert.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key_pair.serialize_der().into());
    // ring needs no C toolchain beyond a C compiler; its lack of
    // post-quantum key exchange is why it is marked deprecated.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| TlsError::Certificate(dir.clone(), e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The names a node's certificate is for: loopback, `localhost`, the
/// machine's host name `host`, the node's name, and the address it listens
/// on.
pub fn names_for(listen: std::net::SocketAddr, node: &str, host: &str) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
        node.to_owned(),
        host.to_owned(),
    ];
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    names.retain(|n| !n.is_empty() && !n.contains(' '));
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_is_made_once_and_signs_a_usable_server_config() {
        let dir = tempfile::tempdir().unwrap();
        let first = authority(dir.path()).unwrap();
        let again = authority(dir.path()).unwrap();
        assert_eq!(first, again);
        assert_eq!(Authority::from_text(&first.to_text()), Some(first.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let key = dir.path().join(TLS_DIR).join(CA_KEY_FILE);
            let mode = std::fs::metadata(key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names = names_for("127.0.0.1:1".parse().unwrap(), "node-1", "machine");
        assert!(names.contains(&"node-1".to_owned()));
        let config = server_config(dir.path(), &first, &names).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}

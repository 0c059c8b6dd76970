//! Registry credentials, in Kubernetes' order: the object's
//! `imagePullSecrets` (`kubernetes.io/dockerconfigjson` Secrets, key
//! `.dockerconfigjson`), then the user's Docker config (`$DOCKER_CONFIG/
//! config.json`, else `~/.docker/config.json`), as `docker login` writes
//! it: `auths.<registry>.auth` is base64 of `user:password` (or `username`
//! and `password` apart). Docker Hub is also found under its old key
//! `https://index.docker.io/v1/`. What was tried is described without the
//! secret.

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;

/// A pull secret's name and its `.dockerconfigjson`.
pub type PullSecret = (String, Vec<u8>);

/// The credentials for `registry`, and how to say which were tried.
pub fn for_registry(registry: &str, secrets: &[PullSecret]) -> (RegistryAuth, String) {
    for (name, json) in secrets {
        let config = serde_json::from_slice(json).unwrap_or_default();
        if let Some((user, password)) = login_in(&config, registry) {
            let tried = format!("the credentials of user {user:?} from Secret {name}");
            return (RegistryAuth::Basic(user, password), tried);
        }
    }
    let from_file = config_file().and_then(|file| {
        let text = std::fs::read_to_string(&file).ok()?;
        let config = serde_json::from_str(&text).ok()?;
        let (user, password) = login_in(&config, registry)?;
        Some((user, password, file.display().to_string()))
    });
    match from_file {
        Some((user, password, file)) => {
            let tried = format!("the credentials of user {user:?} from {file}");
            (RegistryAuth::Basic(user, password), tried)
        }
        None => (RegistryAuth::Anonymous, "no credentials (anonymous)".into()),
    }
}

fn config_file() -> Option<std::path::PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(std::path::PathBuf::from(dir).join("config.json")),
        None => dirs::home_dir().map(|home| home.join(".docker/config.json")),
    }
}

/// (user, password) for `registry` in a Docker config, if it has them.
fn login_in(config: &serde_json::Value, registry: &str) -> Option<(String, String)> {
    let auths = config["auths"].as_object()?;
    let hub = registry == "docker.io" || registry == "index.docker.io";
    let entry = auths.iter().find_map(|(key, value)| {
        let host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let host = host.split('/').next().unwrap_or_default();
        let matches = host == registry || (hub && host == "index.docker.io");
        matches.then_some(value)
    })?;
    if let (Some(user), Some(password)) = (entry["username"].as_str(), entry["password"].as_str()) {
        return Some((user.to_owned(), password.to_owned()));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(entry["auth"].as_str()?)
        .ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

//! Registry credentials from the user's Docker config (`$DOCKER_CONFIG/
//! config.json`, else `~/.docker/config.json`), as `docker login` writes
//! them: `auths.<registry>.auth` is base64 of `user:password`. Docker Hub
//! is also found under its old key `https://index.docker.io/v1/`. What was
//! tried is described without the secret.

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;

/// The credentials for `registry`, and how to say which were tried.
pub fn for_registry(registry: &str) -> (RegistryAuth, String) {
    match from_config(registry) {
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

/// (user, password, the file) for `registry`, if the config has them.
fn from_config(registry: &str) -> Option<(String, String, String)> {
    let file = config_file()?;
    let text = std::fs::read_to_string(&file).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
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
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(entry["auth"].as_str()?)
        .ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((
        user.to_owned(),
        password.to_owned(),
        file.display().to_string(),
    ))
}

//! Talking to a registry with the OCI distribution client. Each call runs
//! on a thread of its own with its own small runtime, so the blocking
//! CLI and the API's handlers can both call it. A registry on the loopback
//! address is spoken to over plain HTTP, as Docker treats it; every other
//! over HTTPS with the platform's roots.

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciImageManifest;
use oci_client::{Client, Reference};

use super::{OciError, WASM_CONFIG, WASM_LAYER, WASM_LAYER_TYPES, credentials, normalize};

/// A module pulled from a registry.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The reference in full, pinned: `registry/repo:tag@sha256:…` (the
    /// manifest's digest), what a Pod's `imageID` says.
    pub image_id: String,
    /// The module's bytes, checked against the layer's digest.
    pub bytes: Vec<u8>,
}

fn client_for(reference: &Reference) -> Client {
    // reqwest's TLS uses the process's rustls provider: ring, as the API
    // (deprecated only for its lack of post-quantum key exchange).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let registry = reference.resolve_registry().to_owned();
    let host = registry
        .rsplit_once(':')
        .map_or(registry.as_str(), |(h, _)| h);
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.starts_with("127.");
    let protocol = match loopback {
        true => ClientProtocol::HttpsExcept(vec![registry.clone()]),
        false => ClientProtocol::Https,
    };
    Client::new(ClientConfig {
        protocol,
        ..ClientConfig::default()
    })
}

/// Runs `work` to completion on a thread with its own runtime.
fn on_own_runtime<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for a registry call");
        runtime.block_on(work)
    })
    .join()
    .expect("the registry call's thread")
}

/// The registry's failure, as Kubernetes reports a pull's.
fn failure(reference: &Reference, tried: String, e: OciDistributionError) -> OciError {
    let whole = reference.whole();
    let refused = match &e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => true,
        OciDistributionError::ServerError { code, .. } => matches!(code, 401 | 403),
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)),
        _ => false,
    };
    match e {
        _ if refused => OciError::Unauthorized {
            reference: whole,
            registry: reference.resolve_registry().to_owned(),
            tried,
        },
        OciDistributionError::IncompatibleLayerMediaTypeError(found) => OciError::NotWasm {
            reference: whole,
            found,
        },
        other => OciError::Pull {
            reference: whole,
            message: other.to_string(),
        },
    }
}

/// Pulls the Wasm module `image` names, with the credentials of `secrets`
/// or the user's Docker config.
pub fn pull(image: &str, secrets: &[credentials::PullSecret]) -> Result<Pulled, OciError> {
    let reference = normalize(image)?;
    let (auth, tried) = credentials::for_registry(reference.resolve_registry(), secrets);
    let client = client_for(&reference);
    let asked = reference.clone();
    let data = on_own_runtime(async move {
        let accepted = WASM_LAYER_TYPES.to_vec();
        client.pull(&asked, &auth, accepted).await
    })
    .map_err(|e| failure(&reference, tried, e))?;
    let whole = reference.whole();
    let [layer] = data.layers.as_slice() else {
        let found: Vec<&str> = data.layers.iter().map(|l| l.media_type.as_str()).collect();
        return Err(OciError::NotWasm {
            reference: whole,
            found: format!("{} layers ({})", found.len(), found.join(", ")),
        });
    };
    let digest = data.digest.unwrap_or_default();
    let image_id = match reference.digest() {
        Some(_) => whole,
        None => format!("{whole}@{digest}"),
    };
    Ok(Pulled {
        image_id,
        bytes: layer.data.to_vec(),
    })
}

/// Pushes the module `bytes` as `image` in the CNCF Wasm artifact layout;
/// the pinned reference (`…@sha256:` of the manifest).
pub fn push(image: &str, bytes: Vec<u8>) -> Result<String, OciError> {
    let reference = normalize(image)?;
    let (auth, tried) = credentials::for_registry(reference.resolve_registry(), &[]);
    let component = crate::runtime::is_component(&bytes);
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": if component { "wasip2" } else { "wasip1" },
        "layerDigests": [crate::module::digest(&bytes)],
        "created": jiff::Timestamp::now().to_string(),
    });
    let config = Config::new(config.to_string().into_bytes(), WASM_CONFIG.into(), None);
    let layers = vec![ImageLayer::new(bytes, WASM_LAYER.into(), None)];
    let manifest = OciImageManifest::build(&layers, &config, None);
    let client = client_for(&reference);
    let target = reference.clone();
    let pushed = on_own_runtime(async move {
        let pushed = client.push(&target, &layers, config, &auth, Some(manifest));
        pushed.await?;
        // The manifest's digest, as the registry now serves it.
        client.fetch_manifest_digest(&target, &auth).await
    });
    let digest = pushed.map_err(|e| {
        let message = match failure(&reference, tried, e) {
            // A push is no pull: its refusal says so without the reason.
            OciError::Unauthorized {
                tried, registry, ..
            } => format!(
                "the registry refused access with {tried}; log in with `docker login {registry}` \
                 (wasmjob reads ~/.docker/config.json)"
            ),
            OciError::Pull { message, .. } => message,
            other => other.to_string(),
        };
        OciError::Push {
            reference: reference.whole(),
            message,
        }
    })?;
    Ok(format!("{}@{digest}", reference.whole()))
}

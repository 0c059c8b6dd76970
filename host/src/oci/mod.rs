//! OCI registries: an `image:` that is an image reference
//! (`host[:port]/repo[:tag][@sha256:…]`, a short name being Docker Hub's as
//! in Kubernetes) names a Wasm module in a registry. [`pull`] fetches it
//! (the manifest, then its one Wasm layer, checked against its digest) and
//! [`push`] stores one in the CNCF Wasm artifact layout; credentials come
//! from the user's Docker config ([`credentials`]).
//!
//! Layer media types read (what `wkg oci push`, Spin, runwasi and
//! wasm-to-oci write): [`WASM_LAYER_TYPES`]; any other is refused naming it.

pub mod allowed;
pub mod cache;
pub mod credentials;
mod registry;

pub use crate::module::is_reference;
pub use registry::{Pulled, pull, push};

/// `imagePullPolicy`, with Kubernetes' meaning: `Always` asks the registry
/// at every apply, `IfNotPresent` only when this machine's cache lacks
/// the reference, `Never` uses the cache alone. Absent: `Always` for
/// `:latest` or no tag, `IfNotPresent` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PullPolicy {
    /// Ask the registry every time.
    Always,
    /// Ask only when the cache lacks it.
    IfNotPresent,
    /// Never ask: the cache or nothing.
    Never,
}

impl PullPolicy {
    /// Kubernetes' default for `reference`.
    pub fn default_for(reference: &oci_client::Reference) -> PullPolicy {
        match (reference.digest(), reference.tag()) {
            (Some(_), _) => PullPolicy::IfNotPresent,
            (None, None | Some("latest")) => PullPolicy::Always,
            (None, Some(_)) => PullPolicy::IfNotPresent,
        }
    }
}

/// The module `image` names, by `policy` (or Kubernetes' default):
/// from this machine's cache, or pulled with the credentials of `secrets`
/// (else the user's Docker config) and kept in the cache.
pub fn fetch(
    image: &str,
    policy: Option<PullPolicy>,
    secrets: &[credentials::PullSecret],
) -> Result<Pulled, OciError> {
    let reference = normalize(image)?;
    let whole = reference.whole();
    let policy = policy.unwrap_or_else(|| PullPolicy::default_for(&reference));
    if policy != PullPolicy::Always
        && let Some(cached) = cache::lookup(&whole)
    {
        return Ok(cached);
    }
    if policy == PullPolicy::Never {
        return Err(OciError::NeverPull { reference: whole });
    }
    let pulled = pull(image, secrets)?;
    cache::keep(&whole, &pulled);
    Ok(pulled)
}

/// The CNCF Wasm artifact's config media type.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";

/// The CNCF Wasm artifact's layer media type, which `push` writes.
pub const WASM_LAYER: &str = "application/wasm";

/// Layer media types that hold a Wasm module or component.
pub const WASM_LAYER_TYPES: [&str; 4] = [
    WASM_LAYER,
    // Spin's and runwasi's component layer.
    "application/vnd.wasm.content.layer.v1+wasm",
    // The Bytecode Alliance's earlier component layer.
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
    // wasm-to-oci, which crun and runwasi's first shims read.
    "application/vnd.module.wasm.content.layer.v1+wasm",
];

/// Why a registry image cannot be had, with Kubernetes' reason first.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The reference does not parse.
    #[error("InvalidImageName: {reference:?} is not an image reference: {reason}")]
    InvalidImageName {
        /// As written.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// The registry refused the credentials (or asked for some).
    #[error(
        "ErrImagePull: {reference}: the registry refused access with {tried}; log in with \
         `docker login {registry}` (wasmjob reads ~/.docker/config.json)"
    )]
    Unauthorized {
        /// The image.
        reference: String,
        /// The registry.
        registry: String,
        /// Which credentials were tried (never the secret).
        tried: String,
    },
    /// The image holds no Wasm module.
    #[error(
        "ErrImagePull: {reference}: {found} is not a Wasm module layer: wasmjob reads one layer \
         of application/wasm (the CNCF Wasm artifact) or the media types runwasi and Spin write"
    )]
    NotWasm {
        /// The image.
        reference: String,
        /// The layers' media types found.
        found: String,
    },
    /// Anything else the registry said, or could not be reached.
    #[error("ErrImagePull: {reference}: {message}")]
    Pull {
        /// The image.
        reference: String,
        /// The registry's message.
        message: String,
    },
    /// `imagePullPolicy: Never` and the cache lacks it.
    #[error(
        "ErrImageNeverPull: {reference} is not on this machine and imagePullPolicy is Never: \
         pull it first (wasmjob pull) or use IfNotPresent"
    )]
    NeverPull {
        /// The image.
        reference: String,
    },
    /// A push failed.
    #[error("cannot push {reference}: {message}")]
    Push {
        /// The image.
        reference: String,
        /// The registry's message.
        message: String,
    },
}

impl OciError {
    /// Kubernetes' reason: `InvalidImageName`, `ErrImagePull`,
    /// `ErrImageNeverPull` (a push's failure has none).
    pub fn reason(&self) -> &'static str {
        match self {
            OciError::InvalidImageName { .. } => "InvalidImageName",
            OciError::NeverPull { .. } => "ErrImageNeverPull",
            OciError::Unauthorized { .. } | OciError::NotWasm { .. } | OciError::Pull { .. } => {
                "ErrImagePull"
            }
            OciError::Push { .. } => "",
        }
    }

    /// What went wrong, without the reason and the image (for a message
    /// that names them already).
    pub fn detail(&self) -> String {
        let whole = self.to_string();
        let reference = match self {
            OciError::InvalidImageName { reference, .. }
            | OciError::Unauthorized { reference, .. }
            | OciError::NotWasm { reference, .. }
            | OciError::Pull { reference, .. }
            | OciError::NeverPull { reference }
            | OciError::Push { reference, .. } => reference,
        };
        let prefix = format!("{}: {reference}", self.reason());
        let rest = whole.strip_prefix(&prefix).unwrap_or(&whole);
        let rest = rest.trim_start_matches([':', ' ']);
        rest.to_owned()
    }

    /// Whether a node keeps trying (Kubernetes' `ErrImagePull` and
    /// `ErrImageNeverPull`, which a Pod waits out): the registry may come
    /// back, the tag be pushed, the credentials or the cache be fixed. A
    /// bad reference or an image that holds no Wasm is wrong as written.
    pub fn node_retries(&self) -> bool {
        matches!(
            self,
            OciError::Unauthorized { .. } | OciError::Pull { .. } | OciError::NeverPull { .. }
        )
    }
}

/// `image` parsed by Kubernetes' rules, as its full form
/// (`docker.io/library/report:latest` for `report`).
pub fn normalize(image: &str) -> Result<oci_client::Reference, OciError> {
    let image = image.trim();
    image
        .parse::<oci_client::Reference>()
        .map_err(|e| OciError::InvalidImageName {
            reference: image.to_owned(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detail_is_the_message_without_reason_and_image() {
        let pull = OciError::Pull {
            reference: "r/x:1".into(),
            message: "manifest unknown".into(),
        };
        assert_eq!(pull.reason(), "ErrImagePull");
        assert_eq!(pull.detail(), "manifest unknown");
        let never = OciError::NeverPull {
            reference: "r/x:1".into(),
        };
        assert_eq!(never.reason(), "ErrImageNeverPull");
        assert!(
            never.detail().starts_with("is not on this machine"),
            "{}",
            never.detail()
        );
        assert!(never.node_retries());
    }

    #[test]
    fn paths_digests_and_references_are_told_apart() {
        for path in [
            "hello.wasm",
            "./m.wat",
            "../dist/x.wasm",
            "/abs/m",
            "file://x",
            "sha256:ab",
        ] {
            assert!(!is_reference(path), "{path}");
        }
        for reference in ["report", "team/report:1.4", "127.0.0.1:5000/demo/hello:1.0"] {
            assert!(is_reference(reference), "{reference}");
        }
    }

    #[test]
    fn short_names_are_docker_hubs_and_no_tag_is_latest() {
        assert_eq!(
            normalize("report").unwrap().whole(),
            "docker.io/library/report:latest"
        );
        assert_eq!(
            normalize("team/report:1.4").unwrap().whole(),
            "docker.io/team/report:1.4"
        );
        let local = normalize("127.0.0.1:5000/demo/hello:1.0").unwrap();
        assert_eq!(local.registry(), "127.0.0.1:5000");
        assert_eq!(local.repository(), "demo/hello");
        let bad = normalize("Team/Report:1.4").unwrap_err();
        assert_eq!(bad.reason(), "InvalidImageName");
        let bad = bad.to_string();
        assert!(
            bad.starts_with("InvalidImageName: \"Team/Report:1.4\""),
            "{bad}"
        );
    }
}

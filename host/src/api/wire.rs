//! What travels between client and server.

use serde::{Deserialize, Serialize};

use crate::controller::node::Relabel;
use crate::manifest::Source;
use crate::runner::Applied;

/// The largest request body taken. Modules travel in apply bodies; 64 MiB
/// leaves room for big ones.
pub(super) const MAX_BODY: usize = 64 << 20;

/// `POST /wasmjob/v1/apply`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyBody {
    /// The objects, image already a digest, with where they came from.
    pub objects: Vec<WireObject>,
    /// Modules the server may not have: digest and base64 bytes.
    pub modules: Vec<WireModule>,
    /// `create`: refuse objects that exist.
    #[serde(default)]
    pub create_only: bool,
}

/// One object of an apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireObject {
    /// The file and document.
    pub source: Source,
    /// `{"apiVersion", "kind", "metadata", "spec"}`.
    pub object: serde_json::Value,
    /// What the client took out of the manifest and warned about (see
    /// `manifest::ignored`): a node started with `--strict` refuses them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A module's bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireModule {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Standard base64.
    pub bytes: String,
}

/// The answer to an apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyAnswer {
    /// One entry per object, in order.
    pub applied: Vec<Applied>,
}

/// An error answer: `{"error": "..."}` with a meaningful HTTP status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// One line for the user.
    pub error: String,
}

/// One instance attempt's log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// The instance.
    pub instance: String,
    /// 0 first.
    pub attempt: u32,
    /// The output (lossy UTF-8).
    pub text: String,
}

/// `POST /wasmjob/v1/nodes/{name}/labels`: `wasmjob label node`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelRequest {
    /// Labels to set.
    pub set: std::collections::BTreeMap<String, String>,
    /// Label keys to remove (`key-`).
    pub remove: Vec<String>,
    /// Whether a label may change value.
    pub overwrite: bool,
}

/// `POST /wasmjob/v1/nodes/{name}/taints`: `wasmjob taint node`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaintRequest {
    /// What to add and remove, in order.
    pub changes: Vec<crate::manifest::TaintChange>,
    /// Whether a taint may change value.
    pub overwrite: bool,
}

impl From<LabelRequest> for Relabel {
    fn from(request: LabelRequest) -> Relabel {
        Relabel {
            set: request.set,
            remove: request.remove,
            overwrite: request.overwrite,
        }
    }
}

//! The parsers of what a client sends, public for the fuzz targets
//! (`fuzz/fuzz_targets/request_body.rs`) and their corpus replay: a
//! protobuf body, the three patch forms applied to an object, and a field
//! selector. Each returns a value or a message, never panics.

use serde_json::Value;

/// A protobuf request body (`application/vnd.kubernetes.protobuf`) read
/// into its JSON object.
pub fn protobuf_body(body: &[u8]) -> Result<Value, String> {
    super::protobuf::decode(body)
}

/// `patch` (JSON) applied to `target` as a `kind` of patch: `json`
/// (RFC 6902), `merge` (RFC 7386) or `strategic`.
pub fn patched(kind: &str, target: &Value, patch: &Value) -> Result<Value, String> {
    let mut out = target.clone();
    match kind {
        "json" => super::patch::json_patch(&mut out, patch).map_err(|e| e.0)?,
        "merge" => super::patch::merge(&mut out, patch),
        _ => super::patch::strategic(&mut out, patch).map_err(|e| e.0)?,
    }
    Ok(out)
}

/// A `fieldSelector` parameter.
pub fn field_selector(text: &str) -> Result<(), String> {
    crate::selector::FieldSelector::parse(text).map(|_| ())
}

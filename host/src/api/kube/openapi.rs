//! The OpenAPI v3 documents kubectl reads: an index of one document per
//! group version, and each document's paths, which say that every write
//! takes `fieldValidation` — so kubectl leaves validation to the server.

use serde_json::{Value, json};

use super::discovery::{SERVED, Served, groups};

/// `GET /openapi/v3`: the index of the per-group documents.
pub(super) fn openapi_index() -> Value {
    let mut paths = serde_json::Map::new();
    let mut parts = vec![("api/v1".to_owned())];
    parts.extend(groups().into_iter().map(|g| format!("apis/{g}/v1")));
    for part in parts {
        paths.insert(
            part.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{part}?hash=wasmjob")}),
        );
    }
    json!({"paths": paths})
}

/// `GET /openapi/v3/{part}`: one group's paths, saying of each write that
/// it takes `fieldValidation` — so kubectl leaves validation to the
/// server, which validates every manifest as `wasmjob apply` does. The
/// schemas are not published: clients that need them for client-side
/// validation are told the server validates.
pub(super) fn openapi_part(part: &str) -> Option<Value> {
    let (group, version) = match part.split('/').collect::<Vec<_>>()[..] {
        ["api", version] => ("", version),
        ["apis", group, version] => (group, version),
        _ => return None,
    };
    let served: Vec<&Served> = SERVED
        .iter()
        .filter(|s| s.group == group && s.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let validation =
        json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string"}});
    let mut paths = serde_json::Map::new();
    for s in served {
        // kubectl finds a kind's PATCH by this extension, then looks
        // for `fieldValidation` among its parameters.
        let gvk = json!({"group": s.group, "version": s.version, "kind": s.kind});
        let write = json!({
            "parameters": [validation],
            "x-kubernetes-group-version-kind": gvk,
        });
        let prefix = match group {
            "" => format!("/api/{version}"),
            g => format!("/apis/{g}/{version}"),
        };
        let scope = if s.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let collection = format!("{prefix}{scope}/{}", s.plural);
        // Writes are declared even where refused: kubectl then sends
        // them, and prints the server's reason instead of failing to
        // find a schema.
        let item = json!({"get": {}, "put": write, "patch": write, "delete": {}});
        let list = json!({"get": {}, "post": write});
        paths.insert(collection.clone(), list);
        paths.insert(format!("{collection}/{{name}}"), item);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "wasmjob", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

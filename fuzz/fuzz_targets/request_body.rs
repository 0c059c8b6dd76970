//! Any bytes as what a client sends the Kubernetes API: a protobuf body,
//! a patch (JSON, merge, strategic) applied to a Job, a field selector.
//! Each must give a value or a message; a patched object must still be
//! JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmjob::api::kube::untrusted;

fuzz_target!(|data: &[u8]| {
    let _ = untrusted::protobuf_body(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = untrusted::field_selector(text);
    let Ok(patch) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let job = serde_json::json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi", "labels": {"app": "pi"}},
        "spec": {"template": {"spec": {
            "containers": [{"name": "main", "image": "pi.wasm", "args": ["1"],
                            "env": [{"name": "A", "value": "1"}]}],
            "restartPolicy": "Never"}}},
    });
    for kind in ["json", "merge", "strategic"] {
        if let Ok(out) = untrusted::patched(kind, &job, &patch) {
            let _ = serde_json::to_string(&out).expect("a patched object is JSON");
        }
    }
});

//! Any text as what decides access: a bearer token (verified, never
//! accepted unless this node signed it), a request path (read as RBAC's
//! attributes and matched against the default roles), an audit policy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmjob::access::audit_policy::Policy;
use wasmjob::access::tokens::Signer;
use wasmjob::access::{Attributes, Grants, Identity};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let signer = Signer::new("the-admin-token");
    assert!(
        signer.verify(text, 1_800_000_000).is_err(),
        "a token this node did not sign was accepted: {text:?}"
    );
    let who = Identity::service_account("team", "viewer", "uid");
    let grants = Grants::defaults();
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        let what = Attributes::of_request(method, text, false);
        let _ = what.forbidden(&who.user);
        let _ = grants.allows(&who, &what);
    }
    if let Ok(policy) = Policy::parse(text) {
        let _ = policy.level(&who.user, &who.groups, &Attributes::of_request("GET", "/api", false));
    }
});

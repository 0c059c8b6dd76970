//! The fuzzers' corpora (`fuzz/corpus/`), replayed in the ordinary test run:
//! every input a fuzz target has kept, and every crash fixed since, stays a
//! regression test without cargo fuzz installed.

use std::path::PathBuf;

/// Each file of `fuzz/corpus/<target>` as text (inputs that are not UTF-8
/// are skipped, as the targets skip them).
pub(crate) fn inputs(target: &str) -> Vec<(PathBuf, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut found: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter_map(|path| {
            let bytes = std::fs::read(&path).expect("a corpus file");
            String::from_utf8(bytes).ok().map(|text| (path, text))
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "{} holds no inputs", dir.display());
    found
}

#[test]
fn the_manifest_corpus_loads_or_is_refused_without_panicking() {
    for (_, text) in inputs("manifest") {
        let _ = crate::manifest::load_str(&text, "fuzz.yaml", std::path::Path::new("/nonexistent"));
    }
}

#[test]
fn the_schedule_corpus_parses_or_is_refused_and_finds_its_next_times() {
    let start: jiff::Timestamp = "2026-02-28T23:59:59Z".parse().unwrap();
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let mut parsed = 0;
    for (_, text) in inputs("schedule") {
        if let Ok(schedule) = crate::schedule::Schedule::parse(&text) {
            parsed += 1;
            let _ = schedule.upcoming(start, &tz, 3);
        }
    }
    assert!(parsed > 0, "the corpus has valid schedules too");
}

#[test]
fn the_selector_corpus_parses_or_is_refused_and_matches() {
    let labels = std::collections::BTreeMap::from([("app".to_owned(), "web".to_owned())]);
    for (_, text) in inputs("selector") {
        if let Ok(selector) = crate::selector::Selector::parse(&text) {
            let _ = selector.matches(&labels);
        }
    }
}

#[test]
fn the_request_body_corpus_is_read_or_refused_without_panicking() {
    use crate::api::kube::untrusted;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/request_body");
    let mut decoded = 0;
    for entry in std::fs::read_dir(&dir).expect("the request_body corpus") {
        let bytes = std::fs::read(entry.expect("an entry").path()).expect("a corpus file");
        decoded += usize::from(untrusted::protobuf_body(&bytes).is_ok());
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        let _ = untrusted::field_selector(&text);
        if let Ok(patch) = serde_json::from_str::<serde_json::Value>(&text) {
            let job = serde_json::json!({"kind": "Job", "metadata": {"name": "pi"}});
            for kind in ["json", "merge", "strategic"] {
                let _ = untrusted::patched(kind, &job, &patch);
            }
        }
    }
    assert!(decoded >= 2, "the protobuf seeds decode");
}

#[test]
fn the_access_corpus_is_never_an_accepted_token() {
    let signer = crate::access::tokens::Signer::new("the-admin-token");
    let who = crate::access::Identity::service_account("team", "viewer", "uid");
    let grants = crate::access::Grants::defaults();
    for (_, text) in inputs("access") {
        assert!(signer.verify(&text, 1_800_000_000).is_err(), "{text:?}");
        for method in ["GET", "POST", "PATCH", "DELETE"] {
            let what = crate::access::Attributes::of_request(method, &text, false);
            let _ = grants.allows(&who, &what);
        }
        let _ = crate::access::audit_policy::Policy::parse(&text);
    }
}

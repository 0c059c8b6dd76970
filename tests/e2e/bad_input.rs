//! Bad input: one clear message naming the file, document and field; exit 2;
//! nothing written to the store (issue 2).

use wasmjob_tests::{Session, dist, fixture, job_yaml};

/// The golden cases: `tests/fixtures/bad-manifests/NAME.yaml`, run with
/// `wasmjob run -f job.yaml`, must print exactly `NAME.stderr` (where
/// `{pi}` and `{fixtures}` stand for the paths of this checkout) and exit 2.
/// `WASMJOB_BLESS=1` rewrites the `.stderr` files from what is printed now;
/// review the diff before committing it.
fn golden_dir() -> std::path::PathBuf {
    fixture("bad-manifests")
}

fn placeholders() -> [(String, &'static str); 2] {
    [
        (dist("pi.wasm").display().to_string(), "{pi}"),
        (
            fixture("")
                .display()
                .to_string()
                .trim_end_matches('/')
                .to_owned(),
            "{fixtures}",
        ),
    ]
}

#[test]
fn every_bad_manifest_exits_2_with_its_golden_message_and_changes_nothing() {
    let s = Session::new();
    // Something already in the store, which bad input must leave alone.
    let good = s.write(
        "good.yaml",
        &job_yaml("ok", &dist("pi.wasm"), &["5"], "", ""),
    );
    assert_eq!(s.wasmjob(&["run", "-f", good.to_str().unwrap()]).code, 0);
    let before = s.store_counts();
    let bless = std::env::var("WASMJOB_BLESS").is_ok_and(|v| v == "1");
    let mut cases: Vec<_> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for case in cases {
        let mut yaml = std::fs::read_to_string(&case).unwrap();
        for (path, name) in placeholders() {
            yaml = yaml.replace(name, &path);
        }
        s.write("job.yaml", &yaml);
        // Named as the user typed it, relative to the working directory.
        let ran = s.wasmjob(&["run", "-f", "job.yaml"]);
        let mut stderr = ran.stderr.clone();
        for (path, name) in placeholders() {
            stderr = stderr.replace(&path, name);
        }
        let golden = case.with_extension("stderr");
        let name = case.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(ran.code, 2, "{name}: {ran:?}");
        assert_eq!(
            ran.stderr.trim().lines().count(),
            1,
            "{name}: one message:\n{}",
            ran.stderr
        );
        assert_eq!(s.store_counts(), before, "{name}: the store changed");
        if bless {
            std::fs::write(&golden, &stderr).unwrap();
        } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(stderr.as_str()) {
            wrong.push(format!(
                "{name}: expected {:?}\n  printed {stderr:?}",
                std::fs::read_to_string(&golden).unwrap_or_default()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "messages differ from their golden files (WASMJOB_BLESS=1 rewrites them):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_missing_manifest_file_is_bad_input() {
    let s = Session::new();
    let ran = s.wasmjob(&["run", "-f", "nope.yaml"]);
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("nope.yaml: cannot read the manifest"),
        "{}",
        ran.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    let s = Session::new();
    assert_eq!(s.wasmjob(&["run"]).code, 2);
    assert_eq!(s.wasmjob(&["frobnicate"]).code, 2);
}

/// `wasmjob run` opens the store on a thread of its own, and only once the
/// manifest's modules are read: a module that is not there leaves a new
/// state directory without a database.
#[test]
fn a_missing_module_creates_no_database() {
    let s = Session::new();
    let job = s.write(
        "job.yaml",
        &job_yaml(
            "gone",
            std::path::Path::new("no-such-module.wasm"),
            &[],
            "",
            "",
        ),
    );
    let ran = s.wasmjob(&["run", "-f", job.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("no-such-module.wasm"), "{}", ran.stderr);
    let db = s.state.path().join("wasmjob.db");
    assert!(!db.exists(), "{} was created", db.display());
}

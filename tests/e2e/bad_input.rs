//! Bad input: one clear message naming the file, document and field; exit 2;
//! nothing written to the store (issue 2).

use wasmjob_tests::{Session, dist, fixture, job_yaml};

/// Each case: a manifest and the text its error must contain.
fn cases() -> Vec<(&'static str, String, String)> {
    let pi = dist("pi.wasm");
    let good = job_yaml("ok", &pi, &["5"], "", "");
    let with = |from: &str, to: &str| good.replacen(from, to, 1);
    vec![
        (
            "negative parallelism",
            good.replacen("spec:\n", "spec:\n  parallelism: -3\n", 1),
            "job.yaml: document 1: spec.parallelism: must be >= 0, got -3".into(),
        ),
        (
            "unknown field",
            with("args:", "argz:"),
            "spec.template.spec.containers[0].argz: unknown field".into(),
        ),
        (
            "container-only field",
            with("args:", "imagePullPolicy: Always\n        args:"),
            "imagePullPolicy: only makes sense for containers".into(),
        ),
        (
            "wrong type",
            good.replacen("spec:\n", "spec:\n  completions: lots\n", 1),
            "spec.completions: invalid type".into(),
        ),
        (
            "bad name",
            with("name: ok", "name: Not_OK"),
            "metadata.name: invalid name".into(),
        ),
        (
            "restartPolicy Always",
            with("restartPolicy: Never", "restartPolicy: Always"),
            "restartPolicy: unsupported value \"Always\"".into(),
        ),
        (
            "unknown kind",
            with("kind: Job", "kind: Pod"),
            "kind: unknown kind \"Pod\"".into(),
        ),
        (
            "missing module",
            with(&pi.display().to_string(), "missing.wasm"),
            "containers[0].image: cannot read module".into(),
        ),
        (
            "container image",
            with(&pi.display().to_string(), "perl"),
            "registries are not supported".into(),
        ),
        (
            "garbage module",
            with(
                &pi.display().to_string(),
                &fixture("garbage.wasm").display().to_string(),
            ),
            "not a valid WebAssembly module".into(),
        ),
        (
            "truncated module",
            with(
                &pi.display().to_string(),
                &fixture("truncated.wasm").display().to_string(),
            ),
            "not a valid WebAssembly module".into(),
        ),
        (
            "library module",
            with(
                &pi.display().to_string(),
                &fixture("no-start.wat").display().to_string(),
            ),
            "has no `_start` export".into(),
        ),
        (
            "unknown import",
            with(
                &pi.display().to_string(),
                &fixture("unknown-import.wat").display().to_string(),
            ),
            "launch_missiles".into(),
        ),
        (
            "unknown digest",
            with(
                &pi.display().to_string(),
                &format!("sha256:{}", "0".repeat(64)),
            ),
            "no stored module has digest".into(),
        ),
        (
            "not YAML",
            "kind: [Job\n".into(),
            "job.yaml: document 1: not valid YAML".into(),
        ),
        (
            "CronJob to run",
            cronjob(&pi),
            "`wasmjob run` runs Jobs only".into(),
        ),
    ]
}

fn cronjob(image: &std::path::Path) -> String {
    format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: hello\nspec:\n  schedule: \"*/1 * * * *\"\n  \
         jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: hello\n            \
         image: {}\n          restartPolicy: OnFailure\n",
        image.display()
    )
}

#[test]
fn every_bad_manifest_exits_2_with_its_message_and_changes_nothing() {
    let s = Session::new();
    // Something already in the store, which bad input must leave alone.
    let good = s.write(
        "good.yaml",
        &job_yaml("ok", &dist("pi.wasm"), &["5"], "", ""),
    );
    assert_eq!(s.wasmjob(&["run", "-f", good.to_str().unwrap()]).code, 0);
    let before = s.store_counts();
    for (case, yaml, expected) in cases() {
        s.write("job.yaml", &yaml);
        // Named as the user typed it, relative to the working directory.
        let ran = s.wasmjob(&["run", "-f", "job.yaml"]);
        assert_eq!(ran.code, 2, "{case}: {ran:?}");
        assert!(
            ran.stderr.contains(&expected),
            "{case}: expected {expected:?} in:\n{}",
            ran.stderr
        );
        assert_eq!(
            ran.stderr.trim().lines().count(),
            1,
            "{case}: one message:\n{}",
            ran.stderr
        );
        assert_eq!(s.store_counts(), before, "{case}: the store changed");
    }
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

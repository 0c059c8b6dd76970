//! Every manifest in examples/ runs through the binary as its header says.

use wasmjob_tests::{Session, repo};

fn example(name: &str) -> String {
    repo().join("examples").join(name).display().to_string()
}

#[test]
fn hello_job_prints_the_date_and_the_greeting() {
    let s = Session::new();
    let ran = s.wasmjob(&["run", "-f", &example("hello-job.yaml")]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(lines[0].contains(" UTC "), "a date first: {}", ran.stdout);
    assert_eq!(lines[1], "Hello from wasmjob");
}

#[test]
fn job_tmpl_expands_into_one_job_per_item() {
    let s = Session::new();
    let ran = s.wasmjob(&[
        "run",
        "-f",
        &example("job-tmpl.yaml"),
        "--expand",
        "ITEM=apple,banana,cherry",
    ]);
    assert_eq!(ran.code, 0, "{ran:?}");
    for item in ["apple", "banana", "cherry"] {
        assert!(
            ran.stdout.contains(&format!("Processing item {item}")),
            "{}",
            ran.stdout
        );
        let row = ran
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("process-item-{item} ")))
            .unwrap_or_default();
        assert!(row.contains("Complete   1/1"), "{}", ran.stdout);
    }
}

#[test]
fn the_jinja2_example_renders_three_jobs() {
    let s = Session::new();
    let ran = s.wasmjob(&["run", "-f", &example("job.yaml.jinja2")]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stdout
            .contains("Processing URL http://dbpedia.org/resource/Banana"),
        "{}",
        ran.stdout
    );
    assert_eq!(ran.stdout.matches("Complete").count(), 3, "{}", ran.stdout);
}

#[test]
fn the_edge_cronjob_runs_on_a_single_node_as_any_cronjob() {
    let s = Session::new();
    let server = wasmjob_tests::Server::start(&s, &[]);
    let ran = s.client(&server, &["apply", "-f", &example("edge-cronjob.yaml")]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.stdout.trim(), "cronjob.batch/edge-heartbeat created");
    // The manifest keeps its extension as applied.
    let ran = s.client(&server, &["get", "cronjob", "edge-heartbeat", "-o", "json"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.json()["spec"]["disconnect"]["replace"], false);
}

#[test]
fn configmap_job_reads_the_configmap_and_passes_files_from_its_init_container() {
    let s = Session::new();
    let ran = s.wasmjob(&["run", "-f", &example("configmap-job.yaml")]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let expected = "==> container convert <==\nconverted prices.csv -> prices.jsonl (2 rows)\n\
                    1 files, 2 rows\n==> container check <==\n0 files, 0 rows\n";
    assert!(ran.stdout.starts_with(expected), "{}", ran.stdout);
}

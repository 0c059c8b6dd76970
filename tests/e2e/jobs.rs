//! Job counts as the seed shows them: completions and parallelism (issue 2's
//! slice of the Job semantics; the full rules are pinned in the controller).

use wasmjob_tests::{Session, items, job_yaml, program};

#[test]
fn completions_5_parallelism_2_never_runs_more_than_two_at_once() {
    let s = Session::new();
    let yaml = job_yaml(
        "five",
        &program("print-lots"),
        &["1"],
        "  completions: 5\n  parallelism: 2",
        "",
    );
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap(), "-o", "json"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let list = ran.json();
    let instances = items(&list, "Instance");
    assert_eq!(instances.len(), 5);
    assert!(
        instances
            .iter()
            .all(|i| i["status"]["phase"] == "Succeeded")
    );
    // From the recorded times: at no instant were more than two running.
    let spans: Vec<(String, String)> = instances
        .iter()
        .map(|i| {
            let st = &i["status"];
            (
                st["startTime"].as_str().unwrap().to_owned(),
                st["finishTime"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (start, _) in &spans {
        let running = spans
            .iter()
            .filter(|(s, f)| s <= start && start < f)
            .count();
        assert!(running <= 2, "{running} running at {start}: {spans:?}");
    }
    assert_eq!(items(&list, "Job")[0]["status"]["succeeded"], 5);
}

#[test]
fn several_instances_prefix_their_output_with_their_name() {
    let s = Session::new();
    let yaml = job_yaml("hellos", &program("say-hello"), &[], "  completions: 3", "");
    let path = s.write("job.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let lines: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| l.contains("Hello from wasmjob"))
        .collect();
    assert_eq!(lines.len(), 3, "{}", ran.stdout);
    assert!(lines.iter().all(|l| l.starts_with("[hellos-")), "{lines:?}");
}

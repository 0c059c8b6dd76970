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
fn the_report_cronjob_has_both_schedules_and_spreads_its_runs() {
    let s = Session::new();
    let server = wasmjob_tests::Server::start(&s, &[]);
    let ran = s.client(&server, &["apply", "-f", &example("report-cronjob.yaml")]);
    assert_eq!(ran.stdout.trim(), "cronjob.batch/report created", "{ran:?}");
    let listed = s.client(&server, &["get", "cronjob", "report"]);
    let row = listed.stdout.lines().nth(1).unwrap_or_default().to_owned();
    assert!(
        row.starts_with("report   H 7 * * 1-5, 0 9 * * 6 (Asia/Tokyo)   Europe/Berlin   False"),
        "{}",
        listed.stdout
    );
    let described = s.client(&server, &["describe", "cronjob", "report"]);
    let next: Vec<jiff::Timestamp> = described
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Next Fire Times:"))
        .skip(1)
        .take(5)
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(next.len(), 5, "{}", described.stdout);
    // Weekday mornings in Berlin at one minute past 7:00 picked by H; or
    // 09:00 on a Saturday in Tokyo.
    let berlin = jiff::tz::db().get("Europe/Berlin").unwrap();
    let tokyo = jiff::tz::db().get("Asia/Tokyo").unwrap();
    let mut minutes = std::collections::BTreeSet::new();
    for t in &next {
        let (b, k) = (t.to_zoned(berlin.clone()), t.to_zoned(tokyo.clone()));
        let saturday_in_tokyo =
            k.weekday() == jiff::civil::Weekday::Saturday && (k.hour(), k.minute()) == (9, 0);
        let weekday_in_berlin = b.hour() == 7 && b.weekday().to_monday_one_offset() <= 5;
        assert!(saturday_in_tokyo || weekday_in_berlin, "{t}");
        if weekday_in_berlin {
            minutes.insert(b.minute());
        }
    }
    assert_eq!(minutes.len(), 1, "H is one minute: {minutes:?}");
    assert!(
        described.stdout.contains("up to 300s later"),
        "{}",
        described.stdout
    );
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

#[test]
fn the_etl_chain_runs_its_jobs_one_after_another() {
    let s = Session::new();
    let ran = s.wasmjob(&["run", "-f", &example("etl-chain.yaml")]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let first = |job: &str| {
        let at = ran.stdout.find(&format!("[{job}-"));
        at.unwrap_or_else(|| panic!("{job} wrote nothing: {}", ran.stdout))
    };
    assert!(
        first("extract") < first("transform") && first("transform") < first("load"),
        "{}",
        ran.stdout
    );
    for job in ["extract", "transform", "load"] {
        assert!(
            ran.stderr.contains(&format!("job.batch/{job} Complete")),
            "{}",
            ran.stderr
        );
    }
}

#[test]
fn the_fetch_report_example_fetches_what_its_policy_grants() {
    // The example's server, on a port of the test's own.
    let csv = std::fs::read_to_string(repo().join("examples/data/csv/fruit.csv")).unwrap();
    let (port, _) = wasmjob_tests::http_server(csv.clone());
    let s = Session::new();
    let out = s.work.path().join("reports");
    let yaml = std::fs::read_to_string(example("fetch-report.yaml"))
        .unwrap()
        .replace("8080", &port.to_string())
        .replace("../dist/", &format!("{}/", repo().join("dist").display()))
        .replace("path: data/reports", &format!("path: {}", out.display()));
    let path = s.write("fetch-report.yaml", &yaml);
    let ran = s.wasmjob(&["run", "-f", path.to_str().unwrap()]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("fetched "), "{ran:?}");
    assert_eq!(std::fs::read_to_string(out.join("fruit.csv")).unwrap(), csv);
}

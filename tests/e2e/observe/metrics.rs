//! `/metrics`: behind the token on the API's address, open on
//! `--metrics-listen`, and read by a real Prometheus.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasmjob_tests::{Server, Session, job_yaml, program, tool};

use super::{free_port, http_get, sample, token};

#[test]
fn metrics_are_served_with_the_token_or_on_their_own_address() {
    let s = Session::new();
    let open = format!("127.0.0.1:{}", free_port());
    let server = Server::start(&s, &["--plain-http", "--metrics-listen", &open]);
    s.write(
        "job.yaml",
        &job_yaml(
            "counted",
            &program("say-hello"),
            &[],
            "  completions: 3",
            "",
        ),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "job.yaml"]).code, 0);
    s.wait_finished(&server, "counted");

    let (status, body) = http_get(&server.address, "/metrics", None);
    assert_eq!(status, 401, "{body}");
    let (status, page) = http_get(&server.address, "/metrics", Some(&token(&s)));
    assert_eq!(status, 200, "{page}");
    let (status, open_page) = http_get(&open, "/metrics", None);
    assert_eq!(status, 200, "{open_page}");

    for page in [&page, &open_page] {
        let job = r#"{namespace="default",job_name="counted"}"#;
        assert_eq!(
            sample(page, &format!("kube_job_status_succeeded{job}")),
            Some(3.0),
            "{page}"
        );
        assert_eq!(
            sample(page, &format!("kube_job_status_active{job}")),
            Some(0.0)
        );
        let complete =
            r#"kube_job_complete{namespace="default",job_name="counted",condition="true"}"#;
        assert_eq!(sample(page, complete), Some(1.0), "{page}");
        assert!(sample(page, "wasmjob_instances_started_total").unwrap_or(0.0) >= 3.0);
        let completed = r#"wasmjob_instances_ended_total{reason="Completed"}"#;
        assert!(sample(page, completed).unwrap_or(0.0) >= 3.0, "{page}");
        assert!(sample(page, "wasmjob_instance_duration_seconds_count").unwrap_or(0.0) >= 3.0);
        assert!(page.contains("# TYPE wasmjob_store_commit_duration_seconds histogram"));
        assert!(page.contains("kube_node_info{node="), "{page}");
    }
    // The open address serves nothing else.
    let (status, _) = http_get(&open, "/apis/batch/v1/jobs", None);
    assert_eq!(status, 404);
}

#[test]
fn a_real_prometheus_scrapes_a_finished_jobs_succeeded_count() {
    let Some(prometheus) = tool("prometheus", "WASMJOB_PROMETHEUS") else {
        return;
    };
    let s = Session::new();
    let open = format!("127.0.0.1:{}", free_port());
    let server = Server::start(&s, &["--metrics-listen", &open]);
    s.write(
        "job.yaml",
        &job_yaml(
            "scraped",
            &program("say-hello"),
            &[],
            "  completions: 2",
            "",
        ),
    );
    assert_eq!(s.client(&server, &["apply", "-f", "job.yaml"]).code, 0);
    s.wait_finished(&server, "scraped");

    let config = s.write(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: wasmjob\n  static_configs:\n  - targets: ['{open}']\n"
        ),
    );
    let web = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            s.work.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting prometheus");
    let query = "/api/v1/query?query=kube_job_status_succeeded%7Bjob_name%3D%22scraped%22%7D";
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    let answered = loop {
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
        if std::net::TcpStream::connect(&web).is_err() {
            continue;
        }
        let (status, body) = http_get(&web, query, None);
        last = body.clone();
        let Ok(answer) = serde_json::from_str::<serde_json::Value>(&body) else {
            continue;
        };
        let result = &answer["data"]["result"][0];
        if status == 200 && !result.is_null() {
            break Some(result.clone());
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let result = answered.unwrap_or_else(|| panic!("Prometheus never had the Job: {last}"));
    assert_eq!(result["value"][1], "2", "{result}");
    assert_eq!(result["metric"]["namespace"], "default", "{result}");
    assert_eq!(result["metric"]["job"], "wasmjob", "{result}");
}

//! The API under load (issue 10, "Load"): concurrent clients calling `get`,
//! `apply` and `logs` on `wasmjob serve` while a 10,000-completion Job runs.
//! No request may fail and no result may be lost; the p99 latency is the
//! figure, against the same requests on the same server when idle (the
//! baseline, measured first in the same run).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use wasmjob::api::client::Client;

use crate::node::Node;
use crate::report::{Row, Verdict, quantile};
use crate::scenarios::Bench;

/// Client threads calling the API at once.
const CLIENTS: usize = 4;

/// What one client does per round: list Jobs, apply a new one-completion
/// Job, list its instances (none yet, or one), read the logs of the finished
/// `warm` Job.
fn round(client: &Client, digest: &str, name: &str, samples: &mut Vec<f64>) -> Result<()> {
    let mut timed = |f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let started = Instant::now();
        f()?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        Ok(())
    };
    timed(&mut || {
        let _: Value = client.get("/apis/batch/v1/jobs", &[])?;
        Ok(())
    })?;
    timed(&mut || {
        let body = json!({
            "objects": [{
                "source": {"file": "load.yaml", "document": 1},
                "object": {
                    "apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": name},
                    "spec": {"template": {"spec": {
                        "containers": [{"name": "c", "image": digest}],
                        "restartPolicy": "Never"
                    }}}
                }
            }],
            "modules": []
        });
        let _: Value = client.post("/wasmjob/v1/apply", &body)?;
        Ok(())
    })?;
    timed(&mut || {
        let selector = ("labelSelector", format!("job-name={name}"));
        let _: Value = client.get("/apis/wasmjob.dev/v1/instances", &[selector])?;
        Ok(())
    })?;
    timed(&mut || {
        let _: Value = client.get("/wasmjob/v1/logs", &[("job", "warm".to_owned())])?;
        Ok(())
    })?;
    Ok(())
}

/// Runs `CLIENTS` threads of rounds until `stop` is set (or `rounds` each, if
/// given); every latency in milliseconds, and the names of the Jobs applied.
fn clients(
    address: &str,
    token: &str,
    digest: &str,
    prefix: &str,
    rounds: Option<usize>,
    stop: &Arc<AtomicBool>,
) -> Result<(Vec<f64>, Vec<String>)> {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let names = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let (address, token, digest, prefix) = (
                address.to_owned(),
                token.to_owned(),
                digest.to_owned(),
                prefix.to_owned(),
            );
            let (samples, names, stop) = (samples.clone(), names.clone(), stop.clone());
            std::thread::spawn(move || -> Result<()> {
                let client = Client::new(&format!("http://{address}"), &token);
                let mut mine = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) && rounds.is_none_or(|r| i < r) {
                    let name = format!("{prefix}-{t}-{i}");
                    round(&client, &digest, &name, &mut mine)
                        .with_context(|| format!("client {t}, round {i}"))?;
                    names.lock().expect("names").push(name);
                    i += 1;
                }
                samples.lock().expect("samples").extend(mine);
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a client thread panicked")?;
    }
    let mut samples = std::mem::take(&mut *samples.lock().expect("samples"));
    samples.sort_by(f64::total_cmp);
    let names = std::mem::take(&mut *names.lock().expect("names"));
    Ok((samples, names))
}

fn job_status(client: &Client, name: &str) -> Result<Value> {
    let path = format!("/apis/batch/v1/namespaces/default/jobs/{name}");
    let job: Value = client
        .get(&path, &[])
        .with_context(|| format!("no Job {name}"))?;
    Ok(job["status"].clone())
}

/// The scenario.
pub fn api_load(b: &Bench) -> Result<Vec<Row>> {
    let hello = b.guest("hello.wasm")?;
    let digest = wasmjob::module::digest(&std::fs::read(&hello)?);
    let n = b.sizes.completions;
    let node = Node::new(&b.wasmjob)?;
    // Plain HTTP, as the rows before TLS measured it: the clients here keep
    // their connections, so TLS would add a handshake per client only.
    let server = node.serve(&["--plain-http"])?;
    let token = std::fs::read_to_string(node.dir().join(wasmjob::api::TOKEN_FILE))?;
    let token = token.trim();
    let address = server.address().to_owned();
    let client = Client::new(&format!("http://{address}"), token);

    // The module goes in with a first small Job; the idle baseline after.
    let warm = node.write(
        "warm.yaml",
        &crate::scenarios::job_manifest("warm", &hello, "", ""),
    )?;
    node.client(&server, &["apply", "-f", &warm.display().to_string()])?;
    // The rounds read its logs: it has finished first (under load its
    // instance was not always recorded by the first round).
    node.client(
        &server,
        &[
            "wait",
            "--for=condition=complete",
            "job/warm",
            "--timeout=60s",
        ],
    )?;
    let never = Arc::new(AtomicBool::new(false));
    let idle_rounds = b.sizes.query_reps.max(2) * 5;
    let (idle, idle_jobs) = clients(&address, token, &digest, "idle", Some(idle_rounds), &never)?;

    let spec = format!("  completions: {n}\n  parallelism: {}\n", b.cores);
    let big = node.write(
        "big.yaml",
        &crate::scenarios::job_manifest("big", &hello, &spec, ""),
    )?;
    node.client(&server, &["apply", "-f", &big.display().to_string()])?;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (stop, address, token) = (stop.clone(), address.clone(), token.to_owned());
        std::thread::spawn(move || -> Result<()> {
            let client = Client::new(&format!("http://{address}"), &token);
            let deadline = Instant::now() + Duration::from_secs(600);
            let result = loop {
                let status = job_status(&client, "big")?;
                if status["succeeded"].as_u64() == Some(n as u64) {
                    break Ok(());
                }
                if Instant::now() > deadline {
                    break Err(anyhow::anyhow!("the big Job did not finish: {status}"));
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            stop.store(true, Ordering::Relaxed);
            result
        })
    };
    let loaded = clients(&address, token, &digest, "busy", None, &stop);
    stop.store(true, Ordering::Relaxed);
    watcher.join().expect("the watcher panicked")?;
    let (busy, busy_jobs) = loaded?;

    // Nothing lost: the big Job and every Job the clients applied succeeded.
    let deadline = Instant::now() + Duration::from_secs(120);
    for name in idle_jobs.iter().chain(&busy_jobs) {
        loop {
            let status = job_status(&client, name)?;
            if status["succeeded"] == 1 {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "Job {name} did not succeed: {status}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let big_status = job_status(&client, "big")?;
    ensure!(
        big_status["succeeded"].as_u64() == Some(n as u64)
            && big_status["failed"].as_u64().unwrap_or(0) == 0,
        "the big Job: {big_status}"
    );
    server.stop()?;

    let p99 = quantile(&busy, 0.99);
    let idle_p99 = quantile(&idle, 0.99);
    Ok(vec![Row {
        scenario: format!(
            "API under load: {CLIENTS} clients of get/apply/logs while a {}-completion Job runs \
             ({} requests, 0 failed, {} Jobs applied, none lost)",
            crate::report::thousands(n as f64),
            busy.len(),
            busy_jobs.len()
        ),
        wasmjob: format!("p99 {p99:.1} ms (p50 {:.1})", quantile(&busy, 0.5)),
        baseline: format!("p99 {idle_p99:.1} ms idle"),
        ratio: format!("{:.1}×", p99 / idle_p99),
        target: "no request fails, no result lost; p99 reported".into(),
        verdict: Verdict::Met,
    }])
}

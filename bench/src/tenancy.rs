//! Fairness between namespaces (issue 37): one namespace floods the node
//! with a 100,000-completion Job at full parallelism while another's
//! per-second CronJobs fire; their lateness is measured against the same
//! CronJobs on an idle node, in the same run.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use wasmjob::manifest::Kind;
use wasmjob::store::Store;

use crate::report::{Row, Verdict, quantile, thousands};
use crate::scenarios::Bench;

/// The least time runs are measured over, however fast the flood ends.
const LEAST_WINDOW: Duration = Duration::from_secs(3);

/// The team's CronJobs: `count` of them, each `*/1 * * * * *`.
fn team_cronjobs(count: usize, hello: &Path) -> String {
    (0..count)
        .map(|i| {
            format!(
                "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: tick-{i}\n  namespace: team\nspec:\n  schedule: \"*/1 * * * * *\"\n  successfulJobsHistoryLimit: 100\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n          - name: hello\n            image: {}\n          restartPolicy: Never\n",
                hello.display()
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The flood: `completions` of `hello` in namespace `flood`, as many at
/// once as the node runs.
fn flood_job(completions: usize, hello: &Path) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: flood\n  namespace: flood\nspec:\n  completions: {completions}\n  parallelism: 256\n  template:\n    spec:\n      containers:\n      - name: c\n        image: {}\n      restartPolicy: Never\n",
        hello.display()
    )
}

/// How late (ms) the team's runs start, scheduled from when the measure
/// starts until the flood (if any) completes; and how many were missed.
fn team_lateness(b: &Bench, hello: &Path, flood: bool) -> Result<(Vec<f64>, usize)> {
    let node = b.node()?;
    let crons = node.write("team.yaml", &team_cronjobs(b.sizes.team_crons, hello))?;
    let server = node.serve(&[])?;
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_owned();
    node.client(&server, &["apply", "-f", &path(&crons)])?;
    // Runs scheduled while the apply was recorded waited for it.
    std::thread::sleep(Duration::from_millis(1500));
    let from = wasmjob::time::now();
    let started = Instant::now();
    if flood {
        let job = node.write("flood.yaml", &flood_job(b.sizes.flood, hello))?;
        node.client(&server, &["apply", "-f", &path(&job)])?;
        node.client(
            &server,
            &[
                "wait",
                "--for=condition=complete",
                "job/flood",
                "-n",
                "flood",
                "--timeout=600s",
            ],
        )?;
    }
    if let Some(rest) = LEAST_WINDOW.checked_sub(started.elapsed()) {
        std::thread::sleep(rest);
    }
    let until = wasmjob::time::now();
    // The last runs get a moment to start.
    std::thread::sleep(Duration::from_millis(500));
    server.stop()?;

    let store = Store::open_readonly(&node.db())?;
    let (mut late, mut missed) = (Vec::new(), 0);
    for i in 0..b.sizes.team_crons {
        let cron = store
            .live_object(Kind::CronJob, "team", &format!("tick-{i}"))?
            .context("a team CronJob was not recorded")?;
        for (scheduled, job) in store.cron_runs(&cron.uid)? {
            if scheduled < from || scheduled >= until {
                continue;
            }
            let Some(job) = job else {
                missed += 1;
                continue;
            };
            let first = store
                .instances_of(&job)?
                .iter()
                .filter_map(|i| i.start_time)
                .min();
            match first {
                Some(first) => late.push((first - scheduled) as f64 / 1e3),
                None => missed += 1,
            }
        }
    }
    anyhow::ensure!(!late.is_empty(), "no team CronJob fired while measured");
    late.sort_by(f64::total_cmp);
    Ok((late, missed))
}

/// The row: the team's p99 lateness under the flood against the same on
/// an idle node.
pub fn tenant_fairness(b: &Bench) -> Result<Vec<Row>> {
    let hello = b.guest("hello.wasm")?;
    let (idle, _) = team_lateness(b, &hello, false)?;
    let (flooded, missed) = team_lateness(b, &hello, true)?;
    let (p99, idle_p99) = (quantile(&flooded, 0.99), quantile(&idle, 0.99));
    Ok(vec![Row {
        scenario: format!(
            "Fairness: {} `*/1 * * * * *` CronJobs of one namespace while another runs a \
             {}-completion Job at parallelism 256 ({} runs: p50 {:.2} ms, max {:.2} ms, \
             {missed} missed; idle node p50 {:.2} ms)",
            b.sizes.team_crons,
            thousands(b.sizes.flood as f64),
            flooded.len(),
            quantile(&flooded, 0.5),
            flooded[flooded.len() - 1],
            quantile(&idle, 0.5),
        ),
        wasmjob: format!("p99 {p99:.2} ms"),
        baseline: format!("p99 {idle_p99:.2} ms idle"),
        ratio: format!("{:.2}×", p99 / idle_p99.max(0.001)),
        target: "p99 ≤ 10 ms".into(),
        verdict: Verdict::of(p99 <= 10.0 && missed == 0),
    }])
}

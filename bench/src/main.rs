//! `wasmjob-bench`: measures wasmjob against its baselines in one run and
//! prints a markdown table of ratios (issue 9). Every figure comes from the
//! real `wasmjob` binary on a fresh state directory; every baseline is
//! measured by this program in the same run, on the same guest.
//!
//! ```text
//! ./dev bench                     # builds what it needs, then the full table
//! ./dev bench --only run-hello    # one scenario
//! wasmjob-bench --tiny            # every scenario at toy sizes (the test suite)
//! ```

mod baseline;
mod cluster;
mod edge;
mod languages;
mod load;
mod node;
mod report;
mod scenarios;
mod tenancy;
mod through_serve;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use clap::Parser;

use report::{Row, Verdict};
use scenarios::{Bench, Sizes};

/// A scenario: measures, returns its table rows.
type Scenario = fn(&Bench) -> Result<Vec<Row>>;

/// The scenarios, in the order of issue 9's table.
const SCENARIOS: &[(&str, Scenario)] = &[
    ("job-throughput", scenarios::job_throughput),
    ("serve-throughput", through_serve::serve_throughput),
    ("run-hello", scenarios::run_hello),
    ("cron-lateness", scenarios::cron_lateness),
    ("idle-daemons", scenarios::idle_daemons),
    ("idle-serve", scenarios::idle_serve),
    ("history", scenarios::history),
    ("queue-lease", scenarios::queue_lease),
    ("api-load", load::api_load),
    ("plugin-languages", languages::plugin_languages),
    ("cluster-throughput", cluster::cluster_throughput),
    ("cluster-cron-lateness", cluster::cluster_cron_lateness),
    ("cluster-cut", cluster::cluster_cut),
    ("edge-build", edge::edge_build),
    ("tenant-fairness", tenancy::tenant_fairness),
];

/// wasmjob's benchmark: each scenario, wasmjob's figure, the baseline's
/// figure measured in the same run, the ratio and the target.
#[derive(Debug, Parser)]
#[command(name = "wasmjob-bench")]
struct Args {
    /// Run only these scenarios (repeatable): job-throughput, serve-throughput, run-hello,
    /// cron-lateness, idle-daemons, idle-serve, history, queue-lease,
    /// api-load, plugin-languages, cluster-throughput, cluster-cron-lateness, cluster-cut,
    /// edge-build, tenant-fairness (the cluster ones on the PostgreSQL of `WASMJOB_TEST_POSTGRES`;
    /// edge-build reads the binaries `./dev dist` builds).
    #[arg(long, value_name = "SCENARIO")]
    only: Vec<String>,
    /// Toy sizes: checks every scenario works, measures nothing meaningful.
    #[arg(long)]
    tiny: bool,
    /// The wasmjob binary [default: `wasmjob` beside this program].
    #[arg(long, value_name = "PATH")]
    wasmjob: Option<PathBuf>,
    /// `plugins/hello` compiled natively [default: `hello` beside this program].
    #[arg(long, value_name = "PATH")]
    native_hello: Option<PathBuf>,
    /// Exit 1 when a target is missed (for CI gates; off by default).
    #[arg(long)]
    strict: bool,
    /// Internal: one naive-Wasm run of this module in this process (the
    /// baseline spawns the harness itself, as cron would spawn a Wasm CLI).
    #[arg(long, value_name = "WASM", hide = true)]
    naive_run: Option<PathBuf>,
}

fn beside_me(name: &str) -> Result<PathBuf> {
    let me = std::env::current_exe().context("locating wasmjob-bench")?;
    Ok(me.with_file_name(name))
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(wasm) = &args.naive_run {
        let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
        baseline::naive_wasm_run(&bytes)?;
        return Ok(());
    }
    for name in &args.only {
        ensure!(
            SCENARIOS.iter().any(|(n, _)| n == name),
            "unknown scenario {name:?}: use one of {}",
            SCENARIOS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let wasmjob = match args.wasmjob {
        Some(p) => p,
        None => beside_me("wasmjob")?,
    };
    let native_hello = match args.native_hello {
        Some(p) => p,
        None => beside_me("hello")?,
    };
    for (what, path) in [("wasmjob", &wasmjob), ("native hello", &native_hello)] {
        ensure!(
            path.is_file(),
            "{what} binary {} is missing: run ./dev bench, which builds it",
            path.display()
        );
    }
    let bench = Bench {
        wasmjob,
        native_hello,
        // `./dev bench` says which checkout's guests to use: another
        // checkout sharing the target directory may have built the harness.
        root: std::env::var_os("WASMJOB_REPO")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .parent()
                    .expect("bench/ is inside the workspace")
                    .to_path_buf()
            }),
        sizes: if args.tiny {
            Sizes::tiny()
        } else {
            Sizes::full()
        },
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };

    let started = Instant::now();
    let mut rows = Vec::new();
    for (name, scenario) in SCENARIOS {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == name) {
            continue;
        }
        eprintln!("wasmjob-bench: {name}…");
        let t = Instant::now();
        rows.extend(scenario(&bench).with_context(|| format!("scenario {name}"))?);
        eprintln!(
            "wasmjob-bench: {name} took {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    println!(
        "{} cores, {}, {:.0} s in all\n",
        bench.cores,
        bench.wasmjob.display(),
        started.elapsed().as_secs_f64()
    );
    print!("{}", report::table(&rows));
    let missed = rows.iter().filter(|r| r.verdict == Verdict::Missed).count();
    if args.strict && missed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

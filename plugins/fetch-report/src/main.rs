//! fetch-report: GETs a URL and writes the body to a path (a mounted
//! volume), then says how much it wrote. The URL and the path are its two
//! arguments (more pairs fetch more reports, in turn) or, without
//! arguments, the configuration keys `REPORT_URL` and `REPORT_PATH` (read through `wasi:config`: a ConfigMap given with
//! `envFrom`, say). The instance reaches the URL only where a
//! NetworkPolicy grants it egress (see `examples/fetch-report.yaml`);
//! otherwise the request is refused, the plugin says why and exits 1.

use std::process::ExitCode;

use wasmjob_sdk::{config, http};

/// The URLs and their paths: the arguments (pairs), or the configuration.
fn settings() -> Result<Vec<(String, String)>, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() && args.len().is_multiple_of(2) {
        return Ok(args
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect());
    }
    let key = |name: &str| {
        config::get(name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("usage: fetch-report URL OUTPUT-PATH... (or set {name})"))
    };
    Ok(vec![(key("REPORT_URL")?, key("REPORT_PATH")?)])
}

/// Fetches `url` into `path`.
fn fetch(url: &str, path: &str) -> Result<usize, String> {
    let report = http::get(url).map_err(|e| e.to_string())?;
    if report.status != 200 {
        return Err(format!("GET {url}: status {}", report.status));
    }
    std::fs::write(path, &report.body).map_err(|e| format!("cannot write {path}: {e}"))?;
    Ok(report.body.len())
}

fn main() -> ExitCode {
    let reports = match settings() {
        Ok(reports) => reports,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    for (url, path) in reports {
        match fetch(&url, &path) {
            Ok(bytes) => println!("fetched {bytes} bytes from {url} into {path}"),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

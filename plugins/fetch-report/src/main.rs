//! fetch-report: GETs a URL and writes the body to a path (a mounted
//! volume), then says how much it wrote. The URL and the path are its two
//! arguments or, without arguments, the configuration keys `REPORT_URL`
//! and `REPORT_PATH` (read through `wasi:config`: a ConfigMap given with
//! `envFrom`, say). The instance reaches the URL only where a
//! NetworkPolicy grants it egress (see `examples/fetch-report.yaml`);
//! otherwise the request is refused, the plugin says why and exits 1.

use std::process::ExitCode;

use wasmjob_sdk::{config, http};

/// The URL and the path: the arguments, or the configuration.
fn settings() -> Result<(String, String), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [url, path] = args.as_slice() {
        return Ok((url.clone(), path.clone()));
    }
    let key = |name: &str| {
        config::get(name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("usage: fetch-report URL OUTPUT-PATH (or set {name})"))
    };
    Ok((key("REPORT_URL")?, key("REPORT_PATH")?))
}

fn main() -> ExitCode {
    let (url, path) = match settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let report = match http::get(&url) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if report.status != 200 {
        eprintln!("GET {url}: status {}", report.status);
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::write(&path, &report.body) {
        eprintln!("cannot write {path}: {e}");
        return ExitCode::FAILURE;
    }
    println!("fetched {} bytes from {url} into {path}", report.body.len());
    ExitCode::SUCCESS
}

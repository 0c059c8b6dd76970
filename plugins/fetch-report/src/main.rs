//! fetch-report: GETs the URL given as its first argument and writes the
//! body to the path given as its second (a mounted volume), then says how
//! much it wrote. The instance reaches the URL only where a NetworkPolicy
//! grants it egress (see `examples/fetch-report.yaml`); otherwise the
//! request is refused, the plugin says why and exits 1.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: fetch-report URL OUTPUT-PATH");
        return ExitCode::from(2);
    };
    let report = match wasmjob_sdk::http::get(url) {
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
    if let Err(e) = std::fs::write(path, &report.body) {
        eprintln!("cannot write {path}: {e}");
        return ExitCode::FAILURE;
    }
    println!("fetched {} bytes from {url} into {path}", report.body.len());
    ExitCode::SUCCESS
}

//! `process-item`: the worker of the seed's "parallel processing using
//! expansions" walkthrough. It prints `Processing item $ITEM` (or
//! `Processing URL $URL` when `URL` is set, as the template variant does) and
//! then sleeps `SLEEP_MS` milliseconds (default 0), standing in for real work.

fn main() {
    let line = match (std::env::var("URL"), std::env::var("ITEM")) {
        (Ok(url), _) => format!("Processing URL {url}"),
        (Err(_), Ok(item)) => format!("Processing item {item}"),
        _ => {
            eprintln!("process-item: set ITEM (or URL) in the container's env");
            std::process::exit(2);
        }
    };
    println!("{line}");
    let sleep_ms: u64 = std::env::var("SLEEP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::thread::sleep(std::time::Duration::from_millis(sleep_ms));
}

//! Seeing the work while it runs (issue 32): `/metrics` with
//! kube-state-metrics' names, scraped by a real Prometheus; watches pushed
//! by the store's commits rather than a timer; live logs.

mod dashboard;
mod logs;
mod metrics;
mod watches;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use wasmjob_tests::Session;

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The session's API token.
fn token(s: &Session) -> String {
    std::fs::read_to_string(s.state.path().join("token"))
        .expect("the token")
        .trim()
        .to_owned()
}

/// `GET path` over plain HTTP/1.0 (the body ends with the connection):
/// the status and the body.
fn http_get(address: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connecting");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {address}\r\n{auth}\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("reading the answer");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}

/// The value of the sample `series` (name and labels as written) in a
/// metrics page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Lines of a streamed `GET path` (HTTP/1.1, chunked), each with the time
/// it arrived, sent to the receiver as they come.
fn stream_lines(
    address: &str,
    path: &str,
    token: &str,
) -> std::sync::mpsc::Receiver<(Instant, String)> {
    let mut stream = TcpStream::connect(address).expect("connecting");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        // The head, then chunks: a size line, the data, an empty line. A
        // watch writes one event per chunk.
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            if line == "\r\n" {
                break;
            }
            line.clear();
        }
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).map_or(true, |n| n == 0) {
                return;
            }
            let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
                return;
            };
            if size == 0 {
                return;
            }
            let mut data = vec![0; size + 2];
            if reader.read_exact(&mut data).is_err() {
                return;
            }
            let text = String::from_utf8_lossy(&data[..size]).into_owned();
            for l in text.lines().filter(|l| !l.is_empty()) {
                if sender.send((Instant::now(), l.to_owned())).is_err() {
                    return;
                }
            }
        }
    });
    receiver
}

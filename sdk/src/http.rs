//! Outgoing HTTP through `wasi:http`, with types: [`get`] a URL, or send
//! any [`request`]. A request leaves the sandbox only where a NetworkPolicy
//! grants the instance egress to its host and port; a refused one returns
//! an [`Error`] whose text says so (`HttpRequestDenied`), and the
//! instance's log names the destination. Components only.
//!
//! ```no_run
//! let report = wasmjob_sdk::http::get("http://reports.example/today.csv")?;
//! assert_eq!(report.status, 200);
//! std::fs::write("/out/today.csv", &report.body)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

/// The generated bindings of the `fetch` world (`wasi:http` and what it
/// uses).
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "wasmjob:plugin/fetch",
        generate_all,
    });
}

use bindings::wasi::http::outgoing_handler;
use bindings::wasi::http::types::{
    ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use bindings::wasi::io::streams::StreamError;

/// A response, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a request failed: the URL, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The URL asked for.
    pub url: String,
    /// What went wrong (`HttpRequestDenied` when no NetworkPolicy grants
    /// the destination).
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP request to {} failed: {}", self.url, self.message)
    }
}

impl std::error::Error for Error {}

/// GETs `url`.
pub fn get(url: &str) -> Result<Response, Error> {
    request("GET", url, &[], &[])
}

/// Sends `method` to `url` with `headers` and `body`, and reads the whole
/// response.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, Error> {
    let fail = |message: String| Error {
        url: url.to_owned(),
        message,
    };
    let (scheme, authority, path) = split_url(url).map_err(fail)?;
    let fields = Fields::new();
    for (name, value) in headers {
        (fields.append(name, value.as_bytes()))
            .map_err(|e| fail(format!("header {name}: {e:?}")))?;
    }
    let outgoing = OutgoingRequest::new(fields);
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "HEAD" => Method::Head,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_owned()),
    };
    let refused = |what: &str| fail(format!("the request's {what} was refused"));
    outgoing
        .set_method(&method)
        .map_err(|()| refused("method"))?;
    let scheme = if scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    (outgoing.set_scheme(Some(&scheme))).map_err(|()| refused("scheme"))?;
    (outgoing.set_authority(Some(authority))).map_err(|()| refused("authority"))?;
    (outgoing.set_path_with_query(Some(path))).map_err(|()| refused("path"))?;
    let outgoing_body = outgoing.body().map_err(|()| refused("body"))?;
    let future = outgoing_handler::handle(outgoing, None).map_err(|e| fail(code(&e)))?;
    {
        let stream = outgoing_body.write().map_err(|()| refused("body"))?;
        for chunk in body.chunks(4096) {
            (stream.blocking_write_and_flush(chunk)).map_err(|e| fail(format!("{e:?}")))?;
        }
    }
    OutgoingBody::finish(outgoing_body, None).map_err(|e| fail(code(&e)))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(fail(code(&e))),
        Some(Err(())) | None => return Err(fail("no response".to_owned())),
    };
    let status = response.status();
    let headers = response.headers().entries();
    let incoming = response.consume().map_err(|()| refused("response body"))?;
    let stream = incoming.stream().map_err(|()| refused("response body"))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(bytes) => body.extend(bytes),
            Err(StreamError::Closed) => break,
            Err(e) => return Err(fail(format!("reading the body: {e:?}"))),
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// An error code as wasi:http names it (`HttpRequestDenied`, …).
fn code(e: &ErrorCode) -> String {
    let text = format!("{e:?}");
    text.strip_prefix("ErrorCode::").unwrap_or(&text).to_owned()
}

/// `scheme://authority/path?query` as (scheme, authority, path and query).
fn split_url(url: &str) -> Result<(&str, &str, &str), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "not an absolute URL (http://host/path)".to_owned())?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("the scheme {scheme:?} is not http or https"));
    }
    let at = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(at);
    if authority.is_empty() {
        return Err("the URL names no host".to_owned());
    }
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/report?day=1"),
            Ok(("http", "127.0.0.1:8080", "/report?day=1"))
        );
        assert_eq!(
            split_url("https://api.example.com"),
            Ok(("https", "api.example.com", "/"))
        );
        assert!(split_url("ftp://x/y").is_err());
        assert!(split_url("/relative").is_err());
        assert!(split_url("http:///path").is_err());
    }
}

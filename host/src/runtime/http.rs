//! `wasi:http` for components. It is linked for every component because
//! the mainstream toolchains import it whether a plugin fetches or not
//! (JavaScript's engine imports it for `fetch`); what it may reach is
//! nothing yet: every outgoing request is denied. The guest gets
//! `HttpRequestDenied` (JavaScript's `fetch` rejects with it) and the
//! instance's log one line naming the destination, so the author sees why.
//! Granting egress by policy is the capabilities issue's.

use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpHooks,
};

use super::CapturedOutput;

/// One instance's `wasi:http` state.
pub struct Http {
    /// The crate's context (header limits).
    pub ctx: WasiHttpCtx,
    /// What decides each request.
    pub hooks: DenyAll,
}

impl Http {
    /// The state of an instance whose log is `output`.
    pub fn new(output: CapturedOutput) -> Self {
        Http {
            ctx: WasiHttpCtx::new(),
            hooks: DenyAll { output },
        }
    }
}

/// Denies every outgoing request, saying so in the instance's log.
pub struct DenyAll {
    output: CapturedOutput,
}

/// The line an instance's log gets for a denied request to `destination`.
pub fn denial(destination: &str) -> String {
    format!(
        "wasmjob: HTTP request to {destination} denied: instances have no network egress \
         (HttpRequestDenied)\n"
    )
}

type Pending = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type Sent = Box<dyn Future<Output = Result<(http::Response<WasiBody>, Pending), HttpError>> + Send>;

impl WasiHttpHooks for DenyAll {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Pending,
    ) -> Sent {
        let destination = request.uri().to_string();
        self.output.append(denial(&destination).as_bytes());
        Box::new(async { Err(HttpError::HttpRequestDenied) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_names_the_destination_and_the_reason() {
        let line = denial("https://api.example.com/report");
        assert!(line.contains("https://api.example.com/report"), "{line}");
        assert!(line.ends_with("(HttpRequestDenied)\n"), "{line}");
    }
}

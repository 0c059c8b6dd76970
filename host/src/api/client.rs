//! The blocking client the CLI verbs use. It turns an unreachable server, a
//! refused token and error answers into one-line [`ClientError`]s.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::wire::ErrorBody;

/// Why a request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered at the address.
    #[error(
        "cannot reach the wasmjob server at {server} ({reason}); start one with `wasmjob serve`, \
         or point --server or WASMJOB_SERVER at a running one"
    )]
    Unreachable {
        /// The address tried.
        server: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The server's one-line message.
        message: String,
    },
}

impl ClientError {
    /// Whether the server judged the input bad (so the CLI exits 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ClientError::Status {
                status: 400 | 422,
                ..
            }
        )
    }
}

/// A connection to one server.
pub struct Client {
    server: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of `server` (`http://host:port`) using `token`.
    pub fn new(server: &str, token: &str) -> Self {
        Client::trusting(server, token, None)
    }

    /// A client of `server` using `token` that trusts the CA `ca_pem` (a
    /// node's `tls/ca.crt`) for `https://`.
    pub fn trusting(server: &str, token: &str, ca_pem: Option<&[u8]>) -> Self {
        Client::trusting_within(server, token, ca_pem, Duration::from_secs(120))
    }

    /// As [`Client::trusting`], giving up on a request after `limit`.
    pub fn trusting_within(
        server: &str,
        token: &str,
        ca_pem: Option<&[u8]>,
        limit: Duration,
    ) -> Self {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(2)))
            .timeout_global(Some(limit));
        if let Some(pem) = ca_pem
            && let Ok(ca) = ureq::tls::Certificate::from_pem(pem)
        {
            let roots = ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![ca.to_owned()]));
            config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
        }
        let config = config.build();
        Client {
            server: server.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            agent: config.into(),
        }
    }

    /// The server's address, as given.
    pub fn server(&self) -> &str {
        &self.server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// `GET path?query`.
    pub fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let request = self.agent.get(&self.url(path));
        self.answer(self.with_query(request, query).call())
    }

    /// `GET path?query`, asking for the media type `accept`.
    pub fn get_as<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        accept: &str,
    ) -> Result<T, ClientError> {
        let request = self.agent.get(&self.url(path)).header("Accept", accept);
        self.answer(self.with_query(request, query).call())
    }

    /// `GET path?query` whose answer is a stream of lines (`logs -f`):
    /// `each` gets every line as it arrives, until the server ends the
    /// stream or `each` returns false. No time limit: a stream may last.
    pub fn get_lines(
        &self,
        path: &str,
        query: &[(&str, String)],
        mut each: impl FnMut(&str) -> bool,
    ) -> Result<(), ClientError> {
        use std::io::BufRead as _;
        let request = self
            .with_query(self.agent.get(&self.url(path)), query)
            .config()
            .timeout_global(None)
            .build();
        let mut response = request.call().map_err(|e| ClientError::Unreachable {
            server: self.server.clone(),
            reason: short_reason(&e),
        })?;
        let status = response.status().as_u16();
        warn(&response);
        if !(200..300).contains(&status) {
            return self.answer::<serde_json::Value>(Ok(response)).map(drop);
        }
        let reader = std::io::BufReader::new(response.body_mut().as_reader());
        for line in reader.lines() {
            let line = line.map_err(|e| ClientError::Unreachable {
                server: self.server.clone(),
                reason: format!("the stream broke off: {e}"),
            })?;
            if !each(&line) {
                break;
            }
        }
        Ok(())
    }

    /// `POST path` with a JSON body.
    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let request = self
            .agent
            .post(&self.url(path))
            .header("Authorization", &self.auth());
        self.answer(request.send_json(body))
    }

    /// `PATCH path` (a Kubernetes API path) with `body` of `content_type`.
    pub fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<T, ClientError> {
        let request = self
            .agent
            .patch(&self.url(path))
            .header("Authorization", &self.auth())
            .header("Content-Type", content_type);
        self.answer(request.send(body))
    }

    /// `DELETE path?query`.
    pub fn delete<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let request = self.agent.delete(&self.url(path));
        self.answer(self.with_query(request, query).call())
    }

    /// Adds the token and the query parameters to a bodiless request.
    fn with_query<B>(
        &self,
        request: ureq::RequestBuilder<B>,
        query: &[(&str, String)],
    ) -> ureq::RequestBuilder<B> {
        let mut request = request.header("Authorization", &self.auth());
        for (k, v) in query {
            request = request.query(*k, v);
        }
        request
    }

    fn answer<T: DeserializeOwned>(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ClientError> {
        let mut response = result.map_err(|e| ClientError::Unreachable {
            server: self.server.clone(),
            reason: short_reason(&e),
        })?;
        let status = response.status().as_u16();
        warn(&response);
        let body = response
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .map_err(|e| ClientError::Unreachable {
                server: self.server.clone(),
                reason: format!("the answer broke off: {e}"),
            })?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&body).map_err(|e| ClientError::Status {
                status,
                message: format!("the server's answer is not what this client expects: {e}"),
            });
        }
        let message = serde_json::from_str::<ErrorBody>(&body)
            .map(|b| b.error)
            .or_else(|_| kube_status(&body))
            .unwrap_or_else(|_| format!("the server answered {status}: {}", body.trim()));
        Err(ClientError::Status { status, message })
    }
}

/// A Kubernetes `Status` refusal as kubectl prints it:
/// `Error from server (NotFound): jobs.batch "x" not found`.
fn kube_status(body: &str) -> Result<String, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Status {
        reason: String,
        message: String,
    }
    let status: Status = serde_json::from_str(body)?;
    Ok(format!(
        "Error from server ({}): {}",
        status.reason, status.message
    ))
}

/// Prints a `Warning` header's text on stderr, as kubectl does.
fn warn(response: &ureq::http::Response<ureq::Body>) {
    for value in response.headers().get_all("warning") {
        let Ok(text) = value.to_str() else { continue };
        // `299 - "text"`: the code and agent are not for people.
        let text = text.splitn(3, ' ').nth(2).unwrap_or(text).trim_matches('"');
        eprintln!("Warning: {text}");
    }
}

fn short_reason(error: &ureq::Error) -> String {
    let reason = match error {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".to_owned()
        }
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    };
    // rustls' refusals of the node's certificate come in several shapes.
    if reason.contains("certificate") || matches!(error, ureq::Error::Tls(_)) {
        return format!(
            "{reason}: the node's certificate is signed by its own CA, which this client \
             trusts from <state dir>/tls/ca.crt or the file WASMJOB_CA names"
        );
    }
    reason
}

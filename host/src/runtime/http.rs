//! `wasi:http` for components. It is linked for every component because
//! the mainstream toolchains import it whether a plugin fetches or not
//! (JavaScript's engine imports it for `fetch`). A request goes out only
//! to a destination the instance's NetworkPolicies grant (see
//! [`super::network`]), over a connection made here to the address the
//! node resolved and checked, with TLS for `https` verified against the
//! platform's roots. A refused request fails in the guest with
//! `HttpRequestDenied` (JavaScript's `fetch` rejects with it) and the
//! instance's log says which destination was refused and why.

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpHooks,
};

use super::network::{Network, Refused};
use crate::egress::limits::MAX_REQUEST_SECONDS;

/// How long a connection may take to open when the guest sets no timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the response's head may take when the guest sets no timeout.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);

/// One instance's `wasi:http` state.
pub struct Http {
    /// The crate's context (header limits).
    pub ctx: WasiHttpCtx,
    /// What decides and sends each request.
    pub hooks: Outgoing,
}

impl Http {
    /// The state of an instance whose egress is `network`.
    pub fn new(network: Network) -> Self {
        Http {
            ctx: WasiHttpCtx::new(),
            hooks: Outgoing { network },
        }
    }
}

/// Sends the requests the instance's grant allows, refuses the others.
pub struct Outgoing {
    network: Network,
}

type Pending = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type Sent = Box<dyn Future<Output = Result<(http::Response<WasiBody>, Pending), HttpError>> + Send>;

impl WasiHttpHooks for Outgoing {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Pending,
    ) -> Sent {
        let network = self.network.clone();
        Box::new(async move {
            let uri = request.uri().clone();
            let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
            let host = uri
                .host()
                .ok_or(HttpError::HttpRequestUriInvalid)?
                .to_owned();
            let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
            let to = match network.http_addresses(&host, port).await {
                Ok(to) => to,
                Err(Refused::NotGranted) => {
                    let what = format!("HTTP request to {uri}");
                    network.deny(&what, &format!("{host}:{port} (HTTP)"));
                    return Err(HttpError::HttpRequestDenied);
                }
                // Granted, but not found: the guest's error, as a lookup
                // failure is anywhere.
                Err(Refused::Unresolved) => {
                    return Err(HttpError::DnsError {
                        rcode: Some(format!("{host} does not resolve on the node")),
                        info_code: None,
                    });
                }
            };
            // One connection per request, each counted; the body's bytes
            // count as they go.
            if !network.connection_opened() {
                return Err(HttpError::ConnectionLimitReached);
            }
            let counting = network.clone();
            let request = request.map(|body| {
                body.map_frame(move |frame| {
                    if let Some(data) = frame.data_ref() {
                        counting.sent(data.len() as u64);
                    }
                    frame
                })
                .boxed_unsync()
            });
            let timeouts = Timeouts::of(options);
            let limit = network.request_limit();
            let sent = tokio::time::timeout(limit, send(request, &to, (&host, tls), timeouts));
            let Ok(response) = sent.await else {
                network.exceed(format!(
                    "an HTTP request to {uri} took longer than {} s ({MAX_REQUEST_SECONDS})",
                    limit.as_secs()
                ));
                return Err(HttpError::ConnectionTimeout);
            };
            Ok((response?, Box::new(async { Ok(()) }) as Pending))
        })
    }
}

/// The guest's timeouts, or ours.
#[derive(Clone, Copy)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
}

impl Timeouts {
    fn of(options: Option<RequestOptions>) -> Timeouts {
        Timeouts {
            connect: (options.and_then(|o| o.connect_timeout)).unwrap_or(CONNECT_TIMEOUT),
            first_byte: (options.and_then(|o| o.first_byte_timeout)).unwrap_or(FIRST_BYTE_TIMEOUT),
        }
    }
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Sends `request` over HTTP/1.1 to the first of `to` that answers, as
/// `host` (its TLS name when `tls`).
async fn send(
    mut request: http::Request<WasiBody>,
    to: &[SocketAddr],
    (host, tls): (&str, bool),
    timeouts: Timeouts,
) -> Result<http::Response<WasiBody>, HttpError> {
    let tcp = connect(to, timeouts.connect).await?;
    let stream: Box<dyn Stream> = if tls {
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        let connector = tokio_rustls::TlsConnector::from(TLS.clone());
        let secured = (connector.connect(name, tcp).await).map_err(HttpError::Tls)?;
        Box::new(secured)
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, WasiBody>(TokioIo::new(stream))
            .await
            .map_err(HttpError::from)?;
    // The connection runs beside the response: it ends when the guest has
    // read the body (or dropped it).
    tokio::spawn(connection);
    // On the wire, the path only: the host goes in the Host header, which
    // wasi:http has set.
    let path = (request.uri().path_and_query()).map_or("/", |p| p.as_str());
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;
    let response = tokio::time::timeout(timeouts.first_byte, sender.send_request(request))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)?
        .map_err(HttpError::from)?;
    Ok(response.map(|body| body.map_err(HttpError::from).boxed_unsync()))
}

/// A connection to the first address of `to` that takes one.
async fn connect(to: &[SocketAddr], within: Duration) -> Result<TcpStream, HttpError> {
    let mut last = HttpError::ConnectionRefused;
    for addr in to {
        match tokio::time::timeout(within, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = HttpError::Connect(e),
            Err(_) => last = HttpError::ConnectionTimeout,
        }
    }
    Err(last)
}

/// TLS as clients of the node's platform: its root certificates.
static TLS: LazyLock<Arc<rustls::ClientConfig>> = LazyLock::new(|| {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        tracing::warn!("no root certificates found on this machine: HTTPS from instances fails");
    }
    // ring, as the API and the registry client use (deprecated only for
    // its lack of post-quantum key exchange).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
});

//! Network egress inside one sandbox, as its [`Grant`] allows: the check
//! `wasi:sockets` makes before each bind, connect and send, and the
//! address an outgoing `wasi:http` request may go to (see [`super::http`]).
//!
//! Names are resolved here, by the node, never taken from the guest: a
//! socket reaches a granted host only at an address the node resolved
//! that host to, and an HTTP request goes to the address the node
//! resolved and checked, so a name that resolves elsewhere a moment later
//! (DNS rebinding) cannot widen the grant.
//!
//! Every refusal is said once in the instance's log, with the reason, and
//! kept (up to [`MAX_DENIALS`] destinations) for the `NetworkDenied` event
//! the runner records when the attempt ends.

use std::future::Future;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use wasmtime_wasi::sockets::SocketAddrUse;

use super::CapturedOutput;
use crate::egress::limits::{Limits, MAX_CONNECTIONS, MAX_EGRESS_BYTES};
use crate::egress::{Grant, Protocol};

/// Destinations one attempt's refusals are kept for, at most.
pub const MAX_DENIALS: usize = 10;

/// One sandbox's egress: its grant and limits, and the refusals so far.
#[derive(Clone)]
pub struct Network {
    grant: Arc<Grant>,
    limits: Limits,
    output: CapturedOutput,
    denied: Arc<Mutex<Vec<String>>>,
    /// What was used of the limits; none while nothing is granted.
    used: Option<Arc<Used>>,
}

/// What one attempt used of its limits, and the first it went past.
struct Used {
    connections: AtomicU64,
    bytes_out: AtomicU64,
    exceeded: watch::Sender<Option<String>>,
}

/// What `wasi:sockets` asks of each address it is about to use.
pub type SocketCheck = Box<
    dyn Fn(SocketAddr, SocketAddrUse) -> Pin<Box<dyn Future<Output = bool> + Send + Sync>>
        + Send
        + Sync,
>;

/// The log line of a refused `what` (`TCP connection to 10.0.0.1:443`).
pub fn denial(what: &str) -> String {
    format!(
        "wasmjob: {what} denied: no NetworkPolicy grants this instance egress there \
         (NetworkDenied)\n"
    )
}

impl Network {
    /// The egress of an instance granted `grant` within `limits`, whose
    /// log is `output`.
    pub fn new(grant: Arc<Grant>, limits: Limits, output: CapturedOutput) -> Network {
        let used = (!grant.is_nothing()).then(|| {
            Arc::new(Used {
                connections: AtomicU64::new(0),
                bytes_out: AtomicU64::new(0),
                exceeded: watch::Sender::new(None),
            })
        });
        Network {
            grant,
            limits,
            output,
            denied: Arc::default(),
            used,
        }
    }

    /// Notes a connection opened; false (and the attempt is stopped) when
    /// it is one more than the limit.
    pub fn connection_opened(&self) -> bool {
        let Some(used) = &self.used else {
            return false;
        };
        let n = used.connections.fetch_add(1, Ordering::AcqRel) + 1;
        let ok = n <= self.limits.connections;
        if !ok {
            let limit = self.limits.connections;
            self.exceed(format!(
                "opened more than {limit} connections ({MAX_CONNECTIONS})"
            ));
        }
        ok
    }

    /// Notes `bytes` sent; false (and the attempt is stopped) once past
    /// the limit.
    pub fn sent(&self, bytes: u64) -> bool {
        let Some(used) = &self.used else {
            return false;
        };
        let n = used.bytes_out.fetch_add(bytes, Ordering::AcqRel) + bytes;
        let ok = n <= self.limits.bytes_out;
        if !ok {
            let limit = self.limits.bytes_out;
            self.exceed(format!("sent more than {limit} bytes ({MAX_EGRESS_BYTES})"));
        }
        ok
    }

    /// How long one HTTP request may take until its response's head.
    pub fn request_limit(&self) -> std::time::Duration {
        self.limits.request
    }

    /// The attempt went past a limit: the first such is what it ends with.
    pub fn exceed(&self, what: String) {
        let Some(used) = &self.used else {
            return;
        };
        let first = used.exceeded.send_if_modified(|exceeded| {
            let first = exceeded.is_none();
            if first {
                *exceeded = Some(what.clone());
            }
            first
        });
        if first {
            let line = format!("wasmjob: network limit exceeded: {what} (NetworkLimitExceeded)\n");
            self.output.append(line.as_bytes());
        }
    }

    /// The limit the attempt went past, if it did.
    pub fn exceeded_now(&self) -> Option<String> {
        self.used.as_ref()?.exceeded.borrow().clone()
    }

    /// Waits until the attempt goes past a limit; which one. Never, while
    /// nothing is granted.
    pub async fn exceeded(&self) -> String {
        let Some(used) = &self.used else {
            return std::future::pending().await;
        };
        let mut seen = used.exceeded.subscribe();
        // The guard the wait gives is not Send: read it after the wait.
        let waited = seen.wait_for(Option::is_some).await.is_ok();
        if !waited {
            return std::future::pending().await;
        }
        let what = seen.borrow().clone();
        what.unwrap_or_default()
    }

    /// Whether nothing is granted: sockets and name lookups stay off.
    pub fn is_closed(&self) -> bool {
        self.grant.is_nothing()
    }

    /// The destinations refused so far, first refusal first.
    pub fn denied(&self) -> Vec<String> {
        self.denied.lock().expect("never poisoned").clone()
    }

    /// Says in the log that `what` (to `destination`) was refused, and
    /// keeps the destination for the event.
    pub fn deny(&self, what: &str, destination: &str) {
        self.output.append(denial(what).as_bytes());
        let mut denied = self.denied.lock().expect("never poisoned");
        if denied.len() < MAX_DENIALS && !denied.iter().any(|d| d == destination) {
            denied.push(destination.to_owned());
        }
    }

    /// The check `wasi:sockets` makes: a bind only to an ephemeral port
    /// (what a connect or a send does on its own), never a listen or an
    /// accept (instances take no connections), a connect or a send only
    /// to a granted destination, a datagram only from one.
    pub fn socket_check(&self) -> SocketCheck {
        let network = self.clone();
        Box::new(move |addr, usage| {
            let network = network.clone();
            Box::pin(async move {
                let (protocol, what) = match usage {
                    SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                        let ephemeral = addr.port() == 0 && addr.ip().is_unspecified();
                        if !ephemeral {
                            network.deny(&format!("binding {addr}"), &addr.to_string());
                        }
                        return ephemeral;
                    }
                    SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => {
                        network.deny("listening for connections", "listen");
                        return false;
                    }
                    // Replies from a granted destination only; dropped
                    // silently otherwise, as a firewall would.
                    SocketAddrUse::UdpReceive => {
                        return allowed(&network.grant, addr, Protocol::Udp).await;
                    }
                    SocketAddrUse::TcpConnect => (Protocol::Tcp, "TCP connection"),
                    SocketAddrUse::UdpSend => (Protocol::Udp, "UDP datagram"),
                };
                let ok = allowed(&network.grant, addr, protocol).await;
                if !ok {
                    let destination = format!("{addr} ({})", protocol.as_str());
                    network.deny(&format!("{what} to {addr}"), &destination);
                }
                // Counted once granted: a connect past the limit stops the
                // attempt.
                let connect = matches!(usage, SocketAddrUse::TcpConnect);
                let counted = !connect || !ok || network.connection_opened();
                ok && counted
            })
        })
    }

    /// The addresses an HTTP request to `host`, port `port` may go to, in
    /// the order to try them. A host name granted by name may go to any
    /// address the node resolves it to; otherwise the address must be in
    /// a granted block.
    pub async fn http_addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let ok = self.grant.allows_address(ip, port, Protocol::Tcp);
            return ok
                .then(|| vec![SocketAddr::new(ip, port)])
                .ok_or(Refused::NotGranted);
        }
        if self.is_closed() {
            return Err(Refused::NotGranted);
        }
        let by_name = self.grant.allows_host(host, port, Protocol::Tcp);
        let mut found = resolve(host.to_owned(), port).await;
        if by_name && found.is_empty() {
            return Err(Refused::Unresolved);
        }
        // IPv4 first: a service on localhost listens there more often.
        found.sort_by_key(|a| a.is_ipv6());
        found.retain(|a| by_name || self.grant.allows_address(a.ip(), port, Protocol::Tcp));
        if found.is_empty() {
            return Err(Refused::NotGranted);
        }
        Ok(found)
    }
}

/// Why an HTTP request has no address to go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No grant covers it.
    NotGranted,
    /// Its host is granted by name, and the node cannot resolve the name.
    Unresolved,
}

/// Whether `addr` is granted: in a granted block, or an address the node
/// resolves a host granted by name to.
async fn allowed(grant: &Grant, addr: SocketAddr, protocol: Protocol) -> bool {
    let (ip, port) = (addr.ip().to_canonical(), addr.port());
    if grant.allows_address(ip, port, protocol) {
        return true;
    }
    for name in grant.names_on(port, protocol) {
        let found = resolve(name, port).await;
        if found.iter().any(|a| a.ip().to_canonical() == ip) {
            return true;
        }
    }
    false
}

/// The addresses the node's resolver gives `name` (none when it fails),
/// looked up off the executor's threads.
async fn resolve(name: String, port: u16) -> Vec<SocketAddr> {
    let lookup = move || {
        (name.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .unwrap_or_default()
    };
    tokio::task::spawn_blocking(lookup)
        .await
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::network::NetworkPolicySpec;

    fn network(policy: &str) -> (Network, CapturedOutput) {
        let mut spec: NetworkPolicySpec = serde_yaml_ng::from_str(policy).unwrap();
        spec.normalize().unwrap();
        let grant = Grant::of([&spec], &Default::default());
        let output = CapturedOutput::new(1 << 20);
        let limits = Limits {
            connections: 3,
            ..Limits::default()
        };
        (
            Network::new(Arc::new(grant), limits, output.clone()),
            output,
        )
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn sockets_reach_granted_destinations_and_bind_only_ephemeral_ports() {
        let (net, output) =
            network("egress: [{to: [{ipBlock: {cidr: 127.0.0.0/8}}], ports: [{port: 8080}]}]");
        let check = net.socket_check();
        assert!(check(addr("127.0.0.1:8080"), SocketAddrUse::TcpConnect).await);
        assert!(!check(addr("127.0.0.1:8081"), SocketAddrUse::TcpConnect).await);
        assert!(!check(addr("127.0.0.1:8080"), SocketAddrUse::UdpSend).await);
        assert!(check(addr("0.0.0.0:0"), SocketAddrUse::TcpBind).await);
        assert!(!check(addr("0.0.0.0:8080"), SocketAddrUse::TcpBind).await);
        assert!(!check(addr("0.0.0.0:0"), SocketAddrUse::TcpListen).await);
        let log = String::from_utf8(output.so_far_timed().0).unwrap();
        assert!(
            log.contains("wasmjob: TCP connection to 127.0.0.1:8081 denied: no NetworkPolicy"),
            "{log}"
        );
        assert_eq!(net.denied()[0], "127.0.0.1:8081 (TCP)");
    }

    #[tokio::test]
    async fn a_host_granted_by_name_is_reached_at_the_addresses_the_node_resolves() {
        let (net, _) = network("egress: [{to: [{hosts: ['localhost:9000']}]}]");
        let check = net.socket_check();
        assert!(check(addr("127.0.0.1:9000"), SocketAddrUse::TcpConnect).await);
        assert!(!check(addr("127.0.0.1:9001"), SocketAddrUse::TcpConnect).await);
        assert!(!check(addr("10.1.1.1:9000"), SocketAddrUse::TcpConnect).await);
        let to = net.http_addresses("localhost", 9000).await.unwrap();
        assert_eq!(to.first(), Some(&addr("127.0.0.1:9000")), "{to:?}");
        let refused = Err(Refused::NotGranted);
        assert_eq!(net.http_addresses("localhost", 9001).await, refused);
        assert_eq!(net.http_addresses("127.0.0.1", 9000).await, refused);
        let (named, _) = network("egress: [{to: [{hosts: [wasmjob-test.invalid]}]}]");
        let unknown = named.http_addresses("wasmjob-test.invalid", 80).await;
        assert_eq!(unknown, Err(Refused::Unresolved));
    }

    #[tokio::test]
    async fn a_block_grants_a_name_that_resolves_into_it() {
        let (net, _) = network("egress: [{to: [{ipBlock: {cidr: 127.0.0.1/32}}]}]");
        let local = Ok(vec![addr("127.0.0.1:80")]);
        assert_eq!(net.http_addresses("localhost", 80).await, local);
        assert_eq!(net.http_addresses("127.0.0.1", 80).await, local);
        let refused = Err(Refused::NotGranted);
        assert_eq!(net.http_addresses("[::1]", 80).await, refused);
    }

    #[tokio::test]
    async fn refusals_are_kept_once_each_and_at_most_ten() {
        let (net, _) = network("policyTypes: [Egress]");
        let check = net.socket_check();
        for port in 1..=20 {
            assert!(!check(addr(&format!("10.0.0.1:{port}")), SocketAddrUse::TcpConnect).await);
            assert!(!check(addr(&format!("10.0.0.1:{port}")), SocketAddrUse::TcpConnect).await);
        }
        assert_eq!(net.denied().len(), MAX_DENIALS);
    }

    #[tokio::test]
    async fn the_connection_past_the_limit_is_refused_and_ends_the_attempt() {
        let (net, output) = network("egress: [{}]");
        let check = net.socket_check();
        for _ in 0..3 {
            assert!(check(addr("127.0.0.1:80"), SocketAddrUse::TcpConnect).await);
        }
        assert!(!check(addr("127.0.0.1:80"), SocketAddrUse::TcpConnect).await);
        let what = net.exceeded().await;
        assert_eq!(
            what,
            "opened more than 3 connections (wasmjob.dev/max-connections)"
        );
        let log = String::from_utf8(output.so_far_timed().0).unwrap();
        assert_eq!(log.matches("(NetworkLimitExceeded)").count(), 1, "{log}");
    }
}

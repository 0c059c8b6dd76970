//! Network egress: what one instance may reach, worked out from the
//! NetworkPolicies of its namespace (see [`crate::manifest::network`]).
//!
//! The rules are Kubernetes': a policy applies to an instance when its
//! `podSelector` matches the instance's labels and its `policyTypes` have
//! `Egress`; what the instance may reach is the union of the egress rules
//! of every policy that applies. A rule with no `to` reaches every
//! destination, one with no `ports` every port.
//!
//! One rule differs, on purpose: Kubernetes lets a pod no policy selects
//! reach everything; wasmjob lets it reach nothing. A sandbox is closed
//! until a grant opens it.

pub mod cidr;
pub mod host;
pub mod limits;

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::manifest::network::{NetworkPolicySpec, Peer};
use cidr::Cidr;
pub use host::HostPattern;

/// A transport protocol a policy's port names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TCP: `wasi:sockets` TCP and `wasi:http`.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP: nothing in WASI speaks it, so it grants nothing.
    Sctp,
}

impl Protocol {
    fn of(text: Option<&str>) -> Protocol {
        match text {
            Some("UDP") => Protocol::Udp,
            Some("SCTP") => Protocol::Sctp,
            _ => Protocol::Tcp,
        }
    }

    /// As a policy writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// Ports of one protocol, first to last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ports {
    protocol: Protocol,
    first: u16,
    last: u16,
}

/// A destination of a rule.
#[derive(Debug, Clone, PartialEq)]
enum Destination {
    Block { cidr: Cidr, except: Vec<Cidr> },
    Host(HostPattern),
}

/// One egress rule, read.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    /// `None`: every destination.
    to: Option<Vec<Destination>>,
    /// Empty: every port of every protocol.
    ports: Vec<Ports>,
}

impl Rule {
    fn port_allowed(&self, port: u16, protocol: Protocol) -> bool {
        if protocol == Protocol::Sctp {
            return false;
        }
        self.ports.is_empty()
            || (self.ports.iter())
                .any(|p| p.protocol == protocol && (p.first..=p.last).contains(&port))
    }
}

/// What one instance may reach. The default grants nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grant {
    rules: Vec<Rule>,
}

impl Grant {
    /// The grant of an instance labelled `labels`, from the policies of
    /// its namespace.
    pub fn of<'a>(
        policies: impl IntoIterator<Item = &'a NetworkPolicySpec>,
        labels: &BTreeMap<String, String>,
    ) -> Grant {
        let mut rules = Vec::new();
        for policy in policies {
            let selects = (policy.pod_selector.selector()).is_ok_and(|s| s.matches(labels));
            if !policy.limits_egress() || !selects {
                continue;
            }
            for rule in &policy.egress {
                let to =
                    (!rule.to.is_empty()).then(|| rule.to.iter().flat_map(destinations).collect());
                let ports = (rule.ports.iter())
                    .map(|p| {
                        let (first, last) = p.range();
                        let protocol = Protocol::of(p.protocol.as_deref());
                        Ports {
                            protocol,
                            first,
                            last,
                        }
                    })
                    .collect();
                rules.push(Rule { to, ports });
            }
        }
        Grant { rules }
    }

    /// Whether nothing at all is granted (the sandbox stays closed).
    pub fn is_nothing(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether the address `ip`, port `port` may be reached.
    pub fn allows_address(&self, ip: IpAddr, port: u16, protocol: Protocol) -> bool {
        self.rules.iter().any(|rule| {
            rule.port_allowed(port, protocol)
                && match &rule.to {
                    None => true,
                    Some(to) => to.iter().any(|d| match d {
                        Destination::Block { cidr, except } => {
                            cidr.contains(ip) && !except.iter().any(|e| e.contains(ip))
                        }
                        Destination::Host(_) => false,
                    }),
                }
        })
    }

    /// Whether the host `name` (any of its addresses), port `port` may be
    /// reached by name.
    pub fn allows_host(&self, name: &str, port: u16, protocol: Protocol) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.rules.iter().any(|rule| {
            rule.port_allowed(port, protocol)
                && match &rule.to {
                    None => true,
                    Some(to) => to.iter().any(|d| match d {
                        Destination::Host(pattern) => pattern.matches(&name, port),
                        Destination::Block { .. } => false,
                    }),
                }
        })
    }

    /// The exact host names granted on `port`: a connection by address
    /// is granted when the node resolves one of them to that address.
    pub fn names_on(&self, port: u16, protocol: Protocol) -> Vec<String> {
        let mut names = Vec::new();
        for rule in self.rules.iter().filter(|r| r.port_allowed(port, protocol)) {
            for d in rule.to.iter().flatten() {
                if let Destination::Host(p) = d
                    && let Some(name) = p.exact_name_on(port)
                    && !names.iter().any(|n| n == name)
                {
                    names.push(name.to_owned());
                }
            }
        }
        names
    }
}

/// What one peer grants: its block or its hosts; a pod or namespace
/// selector grants nothing (instances have no addresses).
fn destinations(peer: &Peer) -> Vec<Destination> {
    let mut out = Vec::new();
    if let Some(block) = &peer.ip_block
        && let Ok(cidr) = Cidr::parse(&block.cidr)
    {
        let except = block.except.iter().filter_map(|e| Cidr::parse(e).ok());
        out.push(Destination::Block {
            cidr,
            except: except.collect(),
        });
    }
    out.extend(
        (peer.hosts.iter())
            .filter_map(|h| HostPattern::parse(h).ok())
            .map(Destination::Host),
    );
    out
}

#[cfg(test)]
mod tests;

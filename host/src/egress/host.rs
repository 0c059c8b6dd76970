//! Host names a NetworkPolicy grants (wasmjob's `hosts` extension): exact
//! names and `*.` wildcards, each on one port or any.

use std::net::IpAddr;

/// A granted host name: exact (`api.example.com`) or every name under a
/// domain (`*.example.org`), on one port or any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// The name, or the domain after `*.`; lower case.
    name: String,
    wildcard: bool,
    port: Option<u16>,
}

impl HostPattern {
    /// Reads `name`, `*.domain`, either with `:port`.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let lower = text.trim().to_ascii_lowercase();
        let (host, port) = match lower.rsplit_once(':') {
            Some((host, port)) => match port.parse::<u16>() {
                Ok(p) if p > 0 => (host, Some(p)),
                _ => return Err(format!("invalid port in {text:?}: give 1 to 65535")),
            },
            None => (lower.as_str(), None),
        };
        if host.parse::<IpAddr>().is_ok() {
            return Err(format!(
                "{text:?} is an address, not a host name: grant it with an ipBlock"
            ));
        }
        let (wildcard, name) = match host.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, host),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(format!(
                "invalid host {text:?}: write a DNS name (api.example.com) or a wildcard \
                 (*.example.com), optionally with :port"
            ));
        }
        Ok(HostPattern {
            name: name.to_owned(),
            wildcard,
            port,
        })
    }

    /// The exact name this grants on `port` (none for a wildcard).
    pub(super) fn exact_name_on(&self, port: u16) -> Option<&str> {
        let on = self.port.is_none_or(|p| p == port);
        (!self.wildcard && on).then_some(self.name.as_str())
    }

    /// Whether `name` (lower case, no trailing dot) on `port` is granted.
    pub(super) fn matches(&self, name: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        if self.wildcard {
            name.strip_suffix(&self.name)
                .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
        } else {
            name == self.name
        }
    }
}

//! How much network one attempt may use, from its template's annotations:
//! connections opened, bytes sent, and how long one HTTP request may take.
//! An attempt that goes past a limit is stopped with the reason
//! `NetworkLimitExceeded`, naming the limit (as one that goes past its
//! memory limit is `OOMKilled`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::manifest::parse_memory_quantity;

/// TCP connections (a `wasi:http` request opens one) an attempt may open.
pub const MAX_CONNECTIONS: &str = "wasmjob.dev/max-connections";
/// Bytes an attempt may send: HTTP request bodies, TCP streams, UDP
/// datagrams (a quantity: `10Mi`).
pub const MAX_EGRESS_BYTES: &str = "wasmjob.dev/max-egress-bytes";
/// Seconds one HTTP request may take until its response's head.
pub const MAX_REQUEST_SECONDS: &str = "wasmjob.dev/max-request-seconds";

/// One attempt's network limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections opened, at most.
    pub connections: u64,
    /// Bytes sent (HTTP request bodies, TCP streams, UDP datagrams), at
    /// most.
    pub bytes_out: u64,
    /// One request's time until its response's head, at most.
    pub request: Duration,
}

impl Default for Limits {
    /// 1000 connections, 1 GiB sent, 300 s per request: far above what a
    /// batch job needs, low enough that a runaway loop ends.
    fn default() -> Self {
        Limits {
            connections: 1000,
            bytes_out: 1 << 30,
            request: Duration::from_secs(300),
        }
    }
}

impl Limits {
    /// The limits the annotations set (the defaults for the others); the
    /// annotation and the problem when one cannot be read.
    pub fn from_annotations(
        annotations: &BTreeMap<String, String>,
    ) -> Result<Limits, (&'static str, String)> {
        let mut limits = Limits::default();
        let count = |key: &'static str| -> Result<Option<u64>, (&'static str, String)> {
            let Some(text) = annotations.get(key) else {
                return Ok(None);
            };
            match text.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err((key, format!("must be a whole number above 0, got {text:?}"))),
            }
        };
        if let Some(n) = count(MAX_CONNECTIONS)? {
            limits.connections = n;
        }
        if let Some(n) = count(MAX_REQUEST_SECONDS)? {
            limits.request = Duration::from_secs(n);
        }
        if let Some(text) = annotations.get(MAX_EGRESS_BYTES) {
            limits.bytes_out = parse_memory_quantity(text).map_err(|e| {
                (
                    MAX_EGRESS_BYTES,
                    format!("must be a quantity of bytes (10Mi): {e}"),
                )
            })?;
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(pairs: &[(&str, &str)]) -> Result<Limits, (&'static str, String)> {
        let map = (pairs.iter())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Limits::from_annotations(&map)
    }

    #[test]
    fn annotations_set_the_limits_and_the_rest_keep_their_defaults() {
        assert_eq!(of(&[]), Ok(Limits::default()));
        let set = of(&[
            (MAX_CONNECTIONS, "3"),
            (MAX_EGRESS_BYTES, "1Ki"),
            (MAX_REQUEST_SECONDS, "5"),
        ])
        .unwrap();
        assert_eq!(
            set,
            Limits {
                connections: 3,
                bytes_out: 1024,
                request: Duration::from_secs(5),
            }
        );
    }

    #[test]
    fn unreadable_limits_name_their_annotation() {
        for (key, value) in [
            (MAX_CONNECTIONS, "0"),
            (MAX_CONNECTIONS, "many"),
            (MAX_REQUEST_SECONDS, "-1"),
            (MAX_EGRESS_BYTES, "lots"),
        ] {
            let (named, message) = of(&[(key, value)]).unwrap_err();
            assert_eq!(named, key);
            assert!(!message.is_empty());
        }
    }
}

//! What a request asks for in its query string: namespace, label
//! selector, name, and for logs which attempts and which structured records.

use serde::Deserialize;

use super::error::{ApiError, bad_request};
use crate::runtime::{LogLevel, LogRecord};
use crate::selector::Selector;

/// `?namespace=…&labelSelector=…&name=…`; no namespace means all of them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Filter {
    pub(super) namespace: Option<String>,
    pub(super) label_selector: Option<String>,
    pub(super) name: Option<String>,
    /// Instances: those of this Job.
    pub(super) job: Option<String>,
    /// Logs: every attempt rather than the last.
    #[serde(default)]
    pub(super) all_attempts: bool,
    /// Logs: the attempt before the last.
    #[serde(default)]
    pub(super) previous: bool,
    /// Logs: only structured records at this level or above.
    pub(super) level: Option<String>,
    /// Logs: only structured records with these fields, `k=v,k2=v2`.
    pub(super) fields: Option<String>,
    /// Instances and logs: those of this DaemonSet.
    pub(super) daemonset: Option<String>,
    /// Logs: one container's section.
    pub(super) container: Option<String>,
    /// Logs: each line prefixed by the time it began.
    #[serde(default)]
    pub(super) timestamps: bool,
    /// Logs: only lines of the last this many seconds.
    pub(super) since_seconds: Option<u64>,
    /// Logs: only lines from this RFC 3339 time on.
    pub(super) since_time: Option<String>,
    /// Logs: only the last this many lines of each attempt.
    pub(super) tail_lines: Option<usize>,
    /// Logs: a stream of the output as it is written.
    #[serde(default)]
    pub(super) follow: bool,
}

impl Filter {
    pub(super) fn selector(&self) -> Result<Selector, ApiError> {
        Selector::parse(self.label_selector.as_deref().unwrap_or(""))
            .map_err(|e| bad_request(e.to_string()))
    }

    /// Logs: how the output is shown.
    pub(super) fn view(&self) -> Result<super::output::View, ApiError> {
        let since = super::output::since(self.since_seconds, self.since_time.as_deref())
            .map_err(bad_request)?;
        Ok(super::output::View {
            container: self.container.clone(),
            since,
            tail: self.tail_lines,
            timestamps: self.timestamps,
        })
    }
}

/// Which structured records `logs --level/--field` keeps.
pub(super) struct RecordFilter {
    pub(super) level: LogLevel,
    pub(super) fields: Vec<(String, String)>,
}

impl RecordFilter {
    pub(super) fn parse(filter: &Filter) -> Result<Option<RecordFilter>, ApiError> {
        if filter.level.is_none() && filter.fields.is_none() {
            return Ok(None);
        }
        let level = match &filter.level {
            None => LogLevel::Trace,
            Some(text) => LogLevel::parse(text).ok_or_else(|| {
                bad_request(format!(
                    "unknown log level {text:?}: use trace, debug, info, warn or error"
                ))
            })?,
        };
        let mut fields = Vec::new();
        for pair in filter.fields.iter().flat_map(|f| f.split(',')) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad_request(format!("field filter {pair:?} is not KEY=VALUE")))?;
            fields.push((key.to_owned(), value.to_owned()));
        }
        Ok(Some(RecordFilter { level, fields }))
    }

    pub(super) fn keeps(&self, record: &LogRecord) -> bool {
        record.level >= self.level
            && self
                .fields
                .iter()
                .all(|wanted| record.fields.iter().any(|have| have == wanted))
    }
}

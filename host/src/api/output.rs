//! An instance's output as both APIs show it: each attempt's bytes with
//! the time each line began (`runtime::line_times`), the running attempt's
//! output so far (`runtime::live`), and the [`View`] a reader asks for —
//! one container's section, the lines since a time, the last lines, each
//! line prefixed by its time.

use super::elsewhere::Elsewhere;
use crate::runtime::line_times::{LineTimes, stamp};
use crate::store::{InstanceRecord, Store, StoreError};
use crate::time::Micros;

/// One attempt's output.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// 0 first.
    pub attempt: u32,
    /// stdout and stderr interleaved.
    pub data: Vec<u8>,
    /// When each line began.
    pub times: LineTimes,
    /// Whether it still runs (its output so far).
    pub running: bool,
}

/// Every attempt of `instance`: those kept, then the running one's output
/// so far — from this process, or from the node that runs it.
pub fn attempts(
    store: &Store,
    instance: &InstanceRecord,
    elsewhere: Option<&Elsewhere>,
) -> Result<Vec<Attempt>, StoreError> {
    let mut attempts: Vec<Attempt> = store
        .logs_timed(&instance.uid)?
        .into_iter()
        .map(|(attempt, data, times)| Attempt {
            attempt,
            data,
            times,
            running: false,
        })
        .collect();
    let running = match crate::runtime::live::output_so_far_timed(&instance.uid) {
        Some(here) => Some(here),
        None => elsewhere
            .and_then(|e| e.live(instance, 0, 0))
            .map(|l| (l.attempt, l.data, l.times)),
    };
    if instance.finish_time.is_none()
        && let Some((attempt, data, times)) = running
    {
        // What the history kept of it so far is older than this.
        attempts.retain(|a| a.attempt < attempt);
        attempts.push(Attempt {
            attempt,
            data,
            times,
            running: true,
        });
    }
    Ok(attempts)
}

/// How a reader wants an attempt's output shown.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Only this container's section (`==> container NAME <==`).
    pub container: Option<String>,
    /// Only lines that began at or after this time.
    pub since: Option<Micros>,
    /// Only the last lines.
    pub tail: Option<usize>,
    /// Each line prefixed by the time it began.
    pub timestamps: bool,
}

/// The time `sinceSeconds` or `sinceTime` (which wins) names, as both APIs
/// take them; the refusal of a `sinceTime` that is not RFC 3339.
pub fn since(seconds: Option<u64>, time: Option<&str>) -> Result<Option<Micros>, String> {
    match time {
        Some(text) => text
            .parse::<jiff::Timestamp>()
            .map(|at| Some(at.as_microsecond()))
            .map_err(|_| format!("sinceTime {text:?} is not an RFC 3339 time")),
        None => Ok(seconds.map(|s| crate::time::now() - (s as i64).saturating_mul(1_000_000))),
    }
}

impl View {
    /// What `attempt` shows from byte `from` on, and where the next look
    /// starts. With `whole_lines`, a line still being written waits (a
    /// follower gets it once it ends); without, it goes out as it is.
    pub fn show(&self, attempt: &Attempt, from: usize, whole_lines: bool) -> (Vec<u8>, usize) {
        let lines = attempt.times.lines(&attempt.data);
        let sectioned =
            self.container.is_some() && lines.iter().any(|l| section(l.bytes).is_some());
        let mut inside = false;
        let mut shown = Vec::new();
        let mut next = from;
        for line in &lines {
            if let Some(name) = sectioned.then(|| section(line.bytes)).flatten() {
                inside = Some(name) == self.container.as_deref();
                if line.offset >= from {
                    next = line.offset + line.bytes.len();
                }
                continue;
            }
            if line.offset < from || (whole_lines && !line.is_whole()) {
                continue;
            }
            next = line.offset + line.bytes.len();
            if sectioned && !inside {
                continue;
            }
            if self
                .since
                .is_some_and(|since| line.time.is_some_and(|t| t < since))
            {
                continue;
            }
            shown.push(*line);
        }
        let skip = self.tail.map_or(0, |t| shown.len().saturating_sub(t));
        let mut out = Vec::new();
        for line in &shown[skip..] {
            if self.timestamps {
                let time = line.time.or(attempt.times.first()).unwrap_or(0);
                out.extend_from_slice(stamp(time).as_bytes());
                out.push(b' ');
            }
            out.extend_from_slice(line.bytes);
            // A line cut short ends where it is, unless it is the last.
            if (self.timestamps || self.container.is_some() || self.tail.is_some())
                && !line.is_whole()
            {
                out.push(b'\n');
            }
        }
        (out, next)
    }
}

/// The container a section header line names.
fn section(line: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(line).ok()?.trim_end_matches('\n');
    text.strip_prefix("==> container ")?.strip_suffix(" <==")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(text: &str, times: &[(usize, Micros)]) -> Attempt {
        let mut noted = LineTimes::default();
        for (offset, time) in times {
            noted.note(*offset, b"x", true, *time);
        }
        Attempt {
            attempt: 0,
            data: text.as_bytes().to_vec(),
            times: noted,
            running: true,
        }
    }

    fn shown(view: &View, a: &Attempt, from: usize, whole: bool) -> (String, usize) {
        let (bytes, next) = view.show(a, from, whole);
        (String::from_utf8(bytes).unwrap(), next)
    }

    #[test]
    fn a_plain_view_is_the_output_byte_for_byte() {
        let a = attempt("one\ntwo\npart", &[(0, 1), (4, 2), (8, 3)]);
        assert_eq!(
            shown(&View::default(), &a, 0, false),
            ("one\ntwo\npart".into(), 12)
        );
        // A follower waits for the line being written, and goes on from it.
        assert_eq!(
            shown(&View::default(), &a, 0, true),
            ("one\ntwo\n".into(), 8)
        );
        assert_eq!(shown(&View::default(), &a, 8, true), (String::new(), 8));
    }

    #[test]
    fn since_tail_and_timestamps_work_on_lines() {
        let second = 1_796_551_201_000_000;
        let a = attempt(
            "a\nb\nc\n",
            &[(0, second), (2, second + 1), (4, second + 2)],
        );
        let since = View {
            since: Some(second + 1),
            ..View::default()
        };
        assert_eq!(shown(&since, &a, 0, false).0, "b\nc\n");
        let tail = View {
            tail: Some(1),
            timestamps: true,
            ..View::default()
        };
        assert_eq!(
            shown(&tail, &a, 0, false).0,
            "2026-12-06T10:00:01.000002000Z c\n"
        );
    }

    #[test]
    fn a_container_view_shows_its_section_only() {
        let a = attempt(
            "==> container init <==\ni\n==> container main <==\nm1\nm2\n",
            &[(0, 1)],
        );
        let main = View {
            container: Some("main".into()),
            ..View::default()
        };
        assert_eq!(shown(&main, &a, 0, false).0, "m1\nm2\n");
        // One without sections is all its container's.
        let plain = attempt("x\n", &[(0, 1)]);
        assert_eq!(shown(&main, &plain, 0, false).0, "x\n");
    }
}

//! The writes waiting for the next group commit. An instance written twice
//! before the commit — created and ended within the same few milliseconds,
//! as most tiny instances are — is written once, in its latest state, at
//! the place of its first write; so is an object's status. Its first
//! attempt's log joins that write ([`Write::InstanceLogged`]): one row
//! instead of two. The commit is one transaction, so what it leaves is the
//! same, for less work.

use std::collections::HashMap;

use crate::store::Write;

/// Staged writes, in order.
#[derive(Default)]
pub(super) struct Staged {
    writes: Vec<Write>,
    /// Where each staged instance's write, and each object's status, is.
    instance_at: HashMap<String, usize>,
    status_at: HashMap<String, usize>,
}

impl Staged {
    /// Stages one write.
    pub(super) fn push(&mut self, write: Write) {
        let write = match write {
            Write::Log {
                instance_uid,
                attempt: 0,
                data,
                truncated,
                times,
            } if self.instance_at.contains_key(&instance_uid) => {
                let at = self.instance_at[&instance_uid];
                return self.join_log(at, instance_uid, (data, truncated, times));
            }
            other => other,
        };
        let (index, uid) = match &write {
            Write::Instance(instance) | Write::InstanceLogged { instance, .. } => {
                (&mut self.instance_at, &instance.uid)
            }
            Write::ObjectStatus { uid, .. } => (&mut self.status_at, uid),
            _ => {
                self.writes.push(write);
                return;
            }
        };
        match index.get(uid) {
            Some(&at) => {
                let earlier = std::mem::replace(&mut self.writes[at], write);
                // A later state of the instance keeps the log already
                // joined; a later log of it (its end, after what a running
                // attempt printed was kept) replaces it.
                if let Write::InstanceLogged {
                    log,
                    truncated,
                    times,
                    ..
                } = earlier
                    && matches!(self.writes[at], Write::Instance(_))
                    && let Write::Instance(instance) = take(&mut self.writes[at])
                {
                    self.writes[at] = Write::InstanceLogged {
                        instance,
                        log,
                        truncated,
                        times,
                    };
                }
            }
            None => {
                index.insert(uid.clone(), self.writes.len());
                self.writes.push(write);
            }
        }
    }

    /// Joins a first attempt's log to the instance's write staged at `at`.
    fn join_log(
        &mut self,
        at: usize,
        instance_uid: String,
        (data, truncated, times): (Vec<u8>, bool, crate::runtime::line_times::LineTimes),
    ) {
        let staged = take(&mut self.writes[at]);
        let (Write::Instance(instance) | Write::InstanceLogged { instance, .. }) = staged else {
            // Only instance writes are found by uid; kept apart otherwise.
            self.writes[at] = staged;
            return self.writes.push(Write::Log {
                instance_uid,
                attempt: 0,
                data,
                truncated,
                times,
            });
        };
        self.writes[at] = Write::InstanceLogged {
            instance,
            log: data,
            truncated,
            times,
        };
    }

    /// Stages writes in order.
    pub(super) fn extend(&mut self, writes: impl IntoIterator<Item = Write>) {
        for write in writes {
            self.push(write);
        }
    }

    /// Stages all of `writes`, leaving it empty.
    pub(super) fn append(&mut self, writes: &mut Vec<Write>) {
        self.extend(writes.drain(..));
    }

    /// The writes, in order.
    pub(super) fn as_slice(&self) -> &[Write] {
        &self.writes
    }

    pub(super) fn len(&self) -> usize {
        self.writes.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The writes, in order, leaving nothing staged.
    pub(super) fn take(&mut self) -> Vec<Write> {
        self.instance_at.clear();
        self.status_at.clear();
        std::mem::take(&mut self.writes)
    }

    /// Stages writes given back uncommitted ahead of everything staged
    /// since they were taken, as if they had never left.
    pub(super) fn put_back(&mut self, writes: Vec<Write>) {
        let since = self.take();
        self.extend(writes);
        self.extend(since);
    }

    pub(super) fn clear(&mut self) {
        self.writes.clear();
        self.instance_at.clear();
        self.status_at.clear();
    }
}

/// The write at a place of the list, leaving a placeholder that costs
/// nothing to make, until the caller puts a write back.
fn take(write: &mut Write) -> Write {
    std::mem::replace(
        write,
        Write::QueueDone {
            item_id: String::new(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Phase;
    use crate::store::InstanceRecord;

    fn instance(uid: &str, phase: Phase) -> Write {
        Write::Instance(InstanceRecord {
            uid: uid.into(),
            name: uid.into(),
            namespace: "default".into(),
            owner_uid: "job".into(),
            completion_index: None,
            labels: Default::default(),
            phase,
            exit_code: None,
            reason: None,
            message: None,
            node_name: "n".into(),
            restart_count: 0,
            created_at: 0,
            start_time: Some(0),
            finish_time: None,
            chain: None,
        })
    }

    fn phases(staged: &Staged) -> Vec<(String, Phase)> {
        staged
            .as_slice()
            .iter()
            .filter_map(|w| match w {
                Write::Instance(i) => Some((i.uid.clone(), i.phase)),
                _ => None,
            })
            .collect()
    }

    fn log(uid: &str, attempt: u32) -> Write {
        Write::Log {
            instance_uid: uid.into(),
            attempt,
            data: format!("{uid} {attempt}").into_bytes(),
            truncated: false,
            times: Default::default(),
        }
    }

    /// Each staged write as (kind, instance uid, phase, joined log).
    fn shapes(staged: &Staged) -> Vec<(&'static str, String, Option<Phase>, Option<String>)> {
        staged
            .as_slice()
            .iter()
            .map(|w| match w {
                Write::Instance(i) => ("instance", i.uid.clone(), Some(i.phase), None),
                Write::InstanceLogged { instance, log, .. } => (
                    "logged",
                    instance.uid.clone(),
                    Some(instance.phase),
                    Some(String::from_utf8(log.clone()).unwrap()),
                ),
                Write::Log {
                    instance_uid, data, ..
                } => (
                    "log",
                    instance_uid.clone(),
                    None,
                    Some(String::from_utf8(data.clone()).unwrap()),
                ),
                _ => ("other", String::new(), None, None),
            })
            .collect()
    }

    #[test]
    fn a_first_attempts_log_joins_its_instances_staged_write() {
        let mut staged = Staged::default();
        staged.push(instance("a", Phase::Running));
        staged.push(instance("a", Phase::Succeeded));
        staged.push(log("a", 0));
        // Not staged: the row was committed before; the log stays apart.
        staged.push(log("b", 0));
        // Later attempts keep their own rows.
        staged.push(instance("c", Phase::Running));
        staged.push(log("c", 0));
        staged.push(instance("c", Phase::Running));
        staged.push(log("c", 1));
        // What a running attempt printed so far, then its end with all of it.
        staged.push(instance("d", Phase::Running));
        staged.push(log("d", 0));
        staged.push(instance("d", Phase::Succeeded));
        staged.push(Write::InstanceLogged {
            instance: match instance("d", Phase::Succeeded) {
                Write::Instance(i) => i,
                _ => unreachable!(),
            },
            log: b"d all".to_vec(),
            truncated: false,
            times: Default::default(),
        });
        assert_eq!(
            shapes(&staged),
            [
                (
                    "logged",
                    "a".into(),
                    Some(Phase::Succeeded),
                    Some("a 0".into())
                ),
                ("log", "b".into(), None, Some("b 0".into())),
                // A later state of `c` kept the log joined before it.
                (
                    "logged",
                    "c".into(),
                    Some(Phase::Running),
                    Some("c 0".into())
                ),
                ("log", "c".into(), None, Some("c 1".into())),
                (
                    "logged",
                    "d".into(),
                    Some(Phase::Succeeded),
                    Some("d all".into())
                ),
            ]
        );
    }

    #[test]
    fn an_instance_written_twice_is_written_once_where_it_first_was() {
        let mut staged = Staged::default();
        staged.push(instance("a", Phase::Running));
        staged.push(instance("b", Phase::Running));
        staged.push(Write::InstanceDeleted {
            uid: "x".into(),
            at: 1,
        });
        staged.push(instance("a", Phase::Succeeded));
        assert_eq!(staged.len(), 3);
        assert_eq!(
            phases(&staged),
            [("a".into(), Phase::Succeeded), ("b".into(), Phase::Running)]
        );
        // What is cleared no longer takes later writes.
        staged.clear();
        staged.push(instance("a", Phase::Failed));
        assert_eq!(phases(&staged), [("a".into(), Phase::Failed)]);
    }

    #[test]
    fn a_batch_given_back_goes_ahead_of_what_was_staged_since() {
        let mut staged = Staged::default();
        staged.push(instance("a", Phase::Running));
        staged.push(instance("b", Phase::Running));
        let sent = staged.take();
        assert!(staged.is_empty());
        // Staged while the batch was under way: a later state of `a`, and `c`.
        staged.push(instance("a", Phase::Succeeded));
        staged.push(instance("c", Phase::Running));
        staged.put_back(sent);
        // In the order they were recorded, `a` once in its latest state.
        assert_eq!(
            phases(&staged),
            [
                ("a".into(), Phase::Succeeded),
                ("b".into(), Phase::Running),
                ("c".into(), Phase::Running)
            ]
        );
        // Still one write per instance afterwards.
        staged.push(instance("b", Phase::Failed));
        assert_eq!(staged.len(), 3);
    }
}

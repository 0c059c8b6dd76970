//! The writes waiting for the next group commit. An instance written twice
//! before the commit — created and ended within the same few milliseconds,
//! as most tiny instances are — is written once, in its latest state, at
//! the place of its first write; so is an object's status. The commit is
//! one transaction, so what it leaves is the same, for less work.

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
        let (index, uid) = match &write {
            Write::Instance(instance) => (&mut self.instance_at, &instance.uid),
            Write::ObjectStatus { uid, .. } => (&mut self.status_at, uid),
            _ => {
                self.writes.push(write);
                return;
            }
        };
        match index.get(uid) {
            Some(&at) => self.writes[at] = write,
            None => {
                index.insert(uid.clone(), self.writes.len());
                self.writes.push(write);
            }
        }
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

    pub(super) fn clear(&mut self) {
        self.writes.clear();
        self.instance_at.clear();
        self.status_at.clear();
    }

    /// Drops what was staged after the first `len` writes.
    pub(super) fn truncate(&mut self, len: usize) {
        self.writes.truncate(len);
        self.instance_at.retain(|_, at| *at < len);
        self.status_at.retain(|_, at| *at < len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{InstanceRecord, Phase};

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
        // What is dropped no longer takes later writes.
        staged.truncate(1);
        staged.push(instance("b", Phase::Failed));
        assert_eq!(
            phases(&staged),
            [("a".into(), Phase::Succeeded), ("b".into(), Phase::Failed)]
        );
        staged.clear();
        staged.push(instance("a", Phase::Failed));
        assert_eq!(phases(&staged), [("a".into(), Phase::Failed)]);
    }
}

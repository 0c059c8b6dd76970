//! Stored objects a node of the cluster would take over or host, admitted
//! again by the same rules as when they were applied (see
//! [`crate::admission`]); one that is refused is left alone, and the node
//! says why once, not at every heartbeat.

use std::collections::HashSet;
use std::sync::Arc;

use crate::admission::{self, Refused};
use crate::manifest::Object;
use crate::runner::parts::Parts;
use crate::runtime::Prepared;
use crate::store::{ObjectRecord, StoreError};

/// The objects whose refusal was said.
#[derive(Default)]
pub(super) struct Refusals(HashSet<String>);

impl Refusals {
    /// The stored `object`'s module, admitted; `None` when it is refused.
    pub(super) fn admit(
        &mut self,
        parts: &Parts,
        record: &ObjectRecord,
        object: &Object,
    ) -> Result<Option<Arc<Prepared>>, StoreError> {
        let store = parts.journal.store();
        match admission::admit(object, &[], &parts.runtime, store) {
            Ok(admitted) => Ok(Some(admitted.prepared)),
            Err(Refused::Store(e)) => Err(e),
            Err(Refused::Invalid(e)) => {
                if self.0.insert(record.uid.clone()) {
                    let name = format!("{}/{}", record.kind.qualified(), record.name);
                    let why = format!("{}: {}", e.path, e.message);
                    tracing::warn!("cluster: {name} is not run on this node: {why}");
                }
                Ok(None)
            }
        }
    }
}

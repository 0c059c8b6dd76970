//! Stored objects a node of the cluster would take over or host, admitted
//! again by the same rules as when they were applied (see
//! [`crate::admission`]), their registry images pulled by this node (see
//! [`crate::apply::pull_pinned`]); one that is refused is left alone, and
//! the node says why once, not at every heartbeat.

use std::collections::HashSet;
use std::sync::Arc;

use crate::admission::{self, Refused};
use crate::manifest::Object;
use crate::runner::parts::Parts;
use crate::runtime::Prepared;
use crate::store::{ObjectRecord, StoreError};
use crate::time;

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
        // A registry image's module is pulled here, by each node.
        let allowed = parts.config.allowed_registries.as_ref();
        let pulled = crate::apply::pull_pinned(object, store, &parts.config.keyring, allowed);
        let admitted = pulled.and_then(|modules| {
            let admitted = admission::admit(object, &modules, &parts.runtime, store)?;
            for module in &modules {
                let component = crate::runtime::is_component(&module.bytes);
                store.put_module(&module.digest, component, &module.bytes, time::now())?;
            }
            Ok(admitted)
        });
        match admitted {
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

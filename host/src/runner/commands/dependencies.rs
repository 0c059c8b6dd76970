//! `dependsOn` at apply: a Job that would wait for itself, through the
//! Jobs of the same apply and the Jobs already stored, is refused with the
//! cycle named — no Job of such a cycle could ever start.

use std::cell::RefCell;

use super::{ApplyRequest, Failure, Incoming};
use crate::controller::job::depends;
use crate::manifest::{Kind, Object};
use crate::store::{ControlPlane, Store, StoreError};

/// Refuses the first Job of `request` that waits for itself.
pub(super) fn check_cycles(
    request: &ApplyRequest,
    control: Option<&dyn ControlPlane>,
    store: &Store,
) -> Result<(), Failure> {
    for incoming in &request.objects {
        let Object::Job(job) = &incoming.object else {
            continue;
        };
        if job.spec.depends_on.is_empty() {
            continue;
        }
        let namespace = &job.metadata.namespace;
        let failed: RefCell<Option<StoreError>> = RefCell::new(None);
        let edges = |name: &str| -> Vec<String> {
            let applied = request
                .objects
                .iter()
                .find_map(|other| match &other.object {
                    Object::Job(j)
                        if j.metadata.name == name && &j.metadata.namespace == namespace =>
                    {
                        Some(j.spec.depends_on.iter().map(|d| d.name.clone()).collect())
                    }
                    _ => None,
                });
            if let Some(names) = applied {
                return names;
            }
            let live = match control {
                Some(control) => control.live_object(Kind::Job, namespace, name),
                None => store.live_object(Kind::Job, namespace, name),
            };
            match live {
                Ok(found) => found
                    .map(|j| crate::manifest::depends_on_names(&j.manifest))
                    .unwrap_or_default(),
                Err(e) => {
                    failed.borrow_mut().get_or_insert(e);
                    Vec::new()
                }
            }
        };
        let cycle = depends::cycle(&job.metadata.name, edges);
        if let Some(e) = failed.into_inner() {
            return Err(Failure::Store(e));
        }
        if let Some(path) = cycle {
            return Err(Failure::Refused(refusal(incoming, &path)));
        }
    }
    Ok(())
}

/// The refusal of `incoming`, whose dependencies run round `path`.
fn refusal(incoming: &Incoming, path: &[String]) -> super::ApplyFailure {
    let Object::Job(job) = &incoming.object else {
        unreachable!("only Jobs depend on others");
    };
    let (field, message) = depends::cycle_refusal(&job.spec.depends_on, path);
    super::invalid_at(incoming, &field, &message)
}

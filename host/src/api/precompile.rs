//! Large modules of CronJobs and DaemonSets compiled before an apply
//! reaches the runner. Admission compiles every module in the runner's
//! loop; a Python or JavaScript component takes seconds, during which the
//! node would record nothing and start nothing. A Job's is compiled by
//! the node after the apply is answered (`Compiling`, see
//! `runner::pulls`); a CronJob's or DaemonSet's is compiled here, on a
//! blocking thread, while the client waits for its answer, and admission
//! then finds it ready. What fails to compile is left to admission to say.

use crate::admission::{self, ModuleBlob};
use crate::manifest::{Kind, Object};
use crate::runner::Incoming;

use super::state::Shared;

/// Compiles the large modules among `modules` that a CronJob or DaemonSet
/// of `objects` runs, before the apply is sent.
pub(super) async fn before_apply(state: &Shared, objects: &[Incoming], modules: &[ModuleBlob]) {
    let long: Vec<ModuleBlob> = (modules.iter())
        .filter(|m| {
            objects
                .iter()
                .any(|o| runs_in_advance(&o.object, &m.digest))
        })
        .filter(|m| state.runtime.compiles_long(&m.digest, &m.bytes))
        .cloned()
        .collect();
    for module in long {
        let runtime = state.runtime.clone();
        let compiled = tokio::task::spawn_blocking(move || {
            runtime.prepare(&module.digest, &module.bytes).map(drop)
        });
        // A failure is admission's to report, with the field it is in.
        let _ = compiled.await;
    }
}

/// Whether `object` is a CronJob or DaemonSet that runs the module `digest`.
fn runs_in_advance(object: &Object, digest: &str) -> bool {
    if !matches!(object.kind(), Kind::CronJob | Kind::DaemonSet) {
        return false;
    }
    let pod = admission::pod_spec(object);
    pod.is_some_and(|p| p.all_containers().any(|c| c.image == digest))
}

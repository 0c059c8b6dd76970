//! Two lanes of executor workers in `serve`: bulk work and the rest.
//!
//! A Job that asks for more instances at once than the node has cores
//! keeps every core busy by itself; its slots run on the *bulk* workers,
//! whose threads are nicer than the rest of the node (see `priority`).
//! Everything else — a CronJob's run, a narrower Job, a DaemonSet's
//! instance — runs on the *prompt* workers, beside the node's API, and the
//! runner and its writer run on threads of their own: each of them takes a
//! core from a bulk worker the moment it needs one, rather than waiting
//! for the scheduler to share the cores out (a tick, 4 ms here, at a time).
//! Under a flood of 256 slots on two cores, another namespace's
//! per-second CronJobs started 1-15 ms late when every slot ran on one set
//! of workers (issue 37's fairness row, `docs/PERFORMANCE.md`).
//!
//! `wasmjob run` has one lane: its Jobs are all the node runs.

use tokio::runtime::Handle;

/// Where a slot runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// With the node's API, at the node's priority.
    Prompt,
    /// On the bulk workers, nicer, when the node has them.
    Bulk,
}

impl Lane {
    /// The lane of a Job that runs `parallelism` instances at once, on a
    /// node of `cores` cores: bulk when it alone can keep every core busy.
    pub fn of(parallelism: u32, cores: usize) -> Lane {
        match parallelism as usize > cores {
            true => Lane::Bulk,
            false => Lane::Prompt,
        }
    }
}

/// The runtimes an executor's slots run on.
#[derive(Clone)]
pub struct Lanes {
    /// The node's runtime: prompt slots, and what waits for references.
    pub prompt: Handle,
    /// The bulk workers, when the node has them.
    pub bulk: Option<Handle>,
}

impl Lanes {
    /// One lane: every slot on `handle`.
    pub fn one(handle: Handle) -> Self {
        Lanes {
            prompt: handle,
            bulk: None,
        }
    }

    /// Where a slot of `lane` runs.
    pub(super) fn handle(&self, lane: Lane) -> &Handle {
        match (lane, &self.bulk) {
            (Lane::Bulk, Some(bulk)) => bulk,
            _ => &self.prompt,
        }
    }
}

/// The bulk workers: one thread per core, each nicer than the node's other
/// threads (where the system lets it).
pub fn bulk_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("wasmjob-bulk")
        .on_thread_start(|| {
            crate::priority::lower_this_thread();
        })
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_wider_than_the_node_is_bulk_work() {
        assert_eq!(Lane::of(1, 2), Lane::Prompt);
        assert_eq!(Lane::of(2, 2), Lane::Prompt);
        assert_eq!(Lane::of(3, 2), Lane::Bulk);
        assert_eq!(Lane::of(256, 2), Lane::Bulk);
        assert_eq!(Lane::of(0, 2), Lane::Prompt);
    }

    #[test]
    fn a_bulk_slot_runs_on_the_prompt_workers_when_there_are_no_others() {
        let prompt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bulk = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let one = Lanes::one(prompt.handle().clone());
        assert_eq!(one.handle(Lane::Bulk).id(), prompt.handle().id());
        let two = Lanes {
            prompt: prompt.handle().clone(),
            bulk: Some(bulk.handle().clone()),
        };
        assert_eq!(two.handle(Lane::Bulk).id(), bulk.handle().id());
        assert_eq!(two.handle(Lane::Prompt).id(), prompt.handle().id());
    }
}

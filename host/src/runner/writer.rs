//! The runner's group commits on a thread of their own.
//!
//! A group commit of a flood's instance records took the runner's thread
//! 20-40 ms (about 20 µs a row), during which no CronJob fired and no
//! waiting Job was given room: the lateness another namespace saw under a
//! flood (issue 37). Here the rows are committed on a connection of their
//! own ([`Committer`]) while the runner goes on, staging the next ones.
//!
//! One batch is under way at a time: the journal sends the next only once
//! it has the outcome of the last, so batches land in order and a failed
//! one is given back whole, ahead of everything staged since (see
//! `journal`). What must be durable before the runner goes on (a CronJob's
//! decided time, an object) still commits on the runner's own connection,
//! after the batch under way has landed.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use crate::store::{Committer, StoreError, Write};

/// How a batch sent to the writer ended.
pub(super) enum Outcome {
    /// Committed.
    Committed,
    /// Not written: why, and the writes, given back in order.
    Failed {
        error: StoreError,
        writes: Vec<Write>,
    },
}

/// The writer thread, and the two ways to it.
pub(super) struct Writer {
    batches: Option<Sender<Vec<Write>>>,
    outcomes: Receiver<Outcome>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the thread that commits through `committer`.
    pub(super) fn start(mut committer: Committer) -> std::io::Result<Self> {
        let (batches, inbox) = mpsc::channel::<Vec<Write>>();
        let (report, outcomes) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("wasmjob-writer".into())
            .spawn(move || {
                for writes in inbox {
                    let outcome = match committer.commit(&writes) {
                        Ok(()) => Outcome::Committed,
                        Err(error) => Outcome::Failed { error, writes },
                    };
                    if report.send(outcome).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Writer {
            batches: Some(batches),
            outcomes,
            thread: Some(thread),
        })
    }

    /// Hands a batch to the thread.
    pub(super) fn send(&self, writes: Vec<Write>) {
        let sent = self.batches.as_ref().map(|b| b.send(writes));
        // The thread ends only when this side drops its sender, or when it
        // panicked; a panic there is a bug, and says so where it happened.
        assert!(
            matches!(sent, Some(Ok(()))),
            "the runner's writer thread ended"
        );
    }

    /// The outcome of the batch sent last, once it has one; `wait` blocks
    /// until it has.
    pub(super) fn outcome(&self, wait: bool) -> Option<Outcome> {
        let landed = match wait {
            true => self.outcomes.recv().ok(),
            false => self.outcomes.try_recv().ok(),
        };
        if wait && landed.is_none() {
            panic!("the runner's writer thread ended with a batch under way");
        }
        landed
    }
}

impl Drop for Writer {
    /// The batch under way lands before the runner's store is closed.
    fn drop(&mut self) {
        self.batches = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

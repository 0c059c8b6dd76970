//! The runner's group commits on a thread of their own.
//!
//! A group commit of a flood's instance records took the runner's thread
//! 20-40 ms (about 20 µs a row), during which no CronJob fired and no
//! waiting Job was given room: the lateness another namespace saw under a
//! flood (issue 37). Here the rows are committed on a connection of their
//! own ([`Committer`]) while the runner goes on, staging the next ones.
//!
//! One batch is under way at a time: the journal sends the next only once
//! it has the outcome of the last, so batches land in order and what
//! failed is given back, ahead of everything staged since (see
//! `journal`). What must be durable before the runner goes on and creates
//! something new — a CronJob's decided time and its Job — takes the
//! *urgent lane*: the batch under way stops at its next look (every few
//! rows) and drops what it applied (committing it would take 3-5 ms), the
//! urgent writes commit, and the batch starts again. So a CronJob fired under a flood waits a fraction of a millisecond
//! for its commit, not the flood's batch (10-15 ms of rows).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use crate::store::{Committer, StoreError, Write};

/// How a batch sent to the writer ended.
pub(super) enum Outcome {
    /// Committed.
    Committed,
    /// Not written: why, and the writes not committed, given back in order.
    Failed {
        error: StoreError,
        writes: Vec<Write>,
    },
}

/// Urgent writes that did not commit: why, and the writes.
pub(super) type Refused = (StoreError, Vec<Write>);

/// What the writer is sent.
enum Work {
    /// A group commit, in order after the last.
    Batch(Vec<Write>),
    /// Writes that go in before the rest of the batch under way.
    Urgent(Vec<Write>),
}

/// The writer thread, and the ways to it.
pub(super) struct Writer {
    work: Option<Sender<Work>>,
    outcomes: Receiver<Outcome>,
    /// Set while urgent writes wait: the batch under way stops for them.
    urgent: Arc<AtomicBool>,
    urgent_outcomes: Receiver<Result<(), Refused>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the thread that commits through `committer`.
    pub(super) fn start(mut committer: Committer) -> std::io::Result<Self> {
        let (work, inbox) = mpsc::channel::<Work>();
        let (report, outcomes) = mpsc::channel();
        let (urgent_report, urgent_outcomes) = mpsc::channel();
        let urgent = Arc::new(AtomicBool::new(false));
        let asked = urgent.clone();
        let thread = std::thread::Builder::new()
            .name("wasmjob-writer".into())
            .spawn(move || {
                let mut lane = UrgentLane {
                    committer: &mut committer,
                    asked: &asked,
                    report: &urgent_report,
                };
                while let Ok(work) = inbox.recv() {
                    let outcome = match work {
                        Work::Urgent(writes) => {
                            lane.commit(writes);
                            continue;
                        }
                        Work::Batch(writes) => lane.batch(writes, &inbox),
                    };
                    if report.send(outcome).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Writer {
            work: Some(work),
            outcomes,
            urgent,
            urgent_outcomes,
            thread: Some(thread),
        })
    }

    /// Hands a batch to the thread.
    pub(super) fn send(&self, writes: Vec<Write>) {
        self.hand(Work::Batch(writes));
    }

    /// Commits `writes` ahead of the rest of the batch under way (its part
    /// applied so far commits first) and waits for them to land; when they
    /// do not, why, and the writes back.
    pub(super) fn commit_urgent(&self, writes: Vec<Write>) -> Result<(), Refused> {
        self.urgent.store(true, Ordering::Release);
        self.hand(Work::Urgent(writes));
        match self.urgent_outcomes.recv() {
            Ok(outcome) => outcome,
            Err(_) => panic!("the runner's writer thread ended with urgent writes"),
        }
    }

    fn hand(&self, work: Work) {
        let sent = self.work.as_ref().map(|b| b.send(work));
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

/// The writer thread's side of the urgent lane.
struct UrgentLane<'a> {
    committer: &'a mut Committer,
    asked: &'a AtomicBool,
    report: &'a Sender<Result<(), Refused>>,
}

impl UrgentLane<'_> {
    /// Commits urgent writes and says how it went.
    fn commit(&mut self, writes: Vec<Write>) {
        self.asked.store(false, Ordering::Release);
        let outcome = match self.committer.commit(&writes) {
            Ok(()) => Ok(()),
            Err(error) => Err((error, writes)),
        };
        // The runner waits for the answer; if it is gone, so is the loop.
        let _ = self.report.send(outcome);
    }

    /// Commits a batch in order, stopping for urgent writes when asked:
    /// the first time by dropping what it applied (writing it would make
    /// them wait: 3-5 ms for the rows of a flood's batch), after that by
    /// committing it, so urgent writes one after another cannot hold a
    /// batch back for ever.
    fn batch(&mut self, writes: Vec<Write>, inbox: &Receiver<Work>) -> Outcome {
        let mut from = 0;
        let mut discard = true;
        while from < writes.len() {
            let asked = self.asked;
            let stop = || asked.load(Ordering::Acquire);
            let committed = self.committer.commit_until(&writes[from..], &stop, discard);
            if self.asked.load(Ordering::Acquire) {
                discard = false;
            }
            match committed {
                Ok(count) => from += count,
                Err(error) => {
                    let writes = writes.into_iter().skip(from).collect();
                    return Outcome::Failed { error, writes };
                }
            }
            if self.asked.load(Ordering::Acquire) {
                // Sent right after the flag: the next thing in the inbox.
                match inbox.recv() {
                    Ok(Work::Urgent(urgent)) => self.commit(urgent),
                    Ok(Work::Batch(_)) | Err(_) => {
                        unreachable!("one batch is under way at a time, and the runner waits")
                    }
                }
            }
        }
        Outcome::Committed
    }
}

impl Drop for Writer {
    /// The batch under way lands before the runner's store is closed.
    fn drop(&mut self) {
        self.work = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Kind;
    use crate::store::Store;
    use crate::store::tests::{instance, object};

    #[test]
    fn urgent_writes_land_ahead_of_a_batch_under_way_and_the_batch_lands_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("state.db")).unwrap();
        let flood = object(Kind::Job, "flood", 1);
        store
            .commit(&[Write::ObjectCreated(flood.clone())])
            .unwrap();
        let writer = Writer::start(store.committer().unwrap().unwrap()).unwrap();
        let rows = 20_000;
        let batch = (0..rows)
            .map(|n| Write::Instance(instance(&flood, &format!("f-{n}"), 1)))
            .collect();
        writer.send(batch);
        let tick = object(Kind::Job, "tick-1", 2);
        writer
            .commit_urgent(vec![Write::ObjectCreated(tick.clone())])
            .unwrap();
        // Durable once the call returns, ahead of the batch (20,000 rows
        // take far longer than sending two messages).
        assert!(store.object(&tick.uid).unwrap().is_some());
        assert!(store.instances_of(&flood.uid).unwrap().len() < rows);
        // The batch still lands whole, in order.
        assert!(matches!(writer.outcome(true), Some(Outcome::Committed)));
        assert_eq!(store.instances_of(&flood.uid).unwrap().len(), rows);
        // With nothing under way, the lane commits at once.
        let next = object(Kind::Job, "tick-2", 3);
        writer
            .commit_urgent(vec![Write::ObjectCreated(next.clone())])
            .unwrap();
        assert!(store.object(&next.uid).unwrap().is_some());
    }
}

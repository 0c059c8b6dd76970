//! The journal: every write the runner makes goes through it, from the
//! runner's thread, so every write to the store has one author.
//!
//! What the loop records is staged and committed in one transaction at most
//! [`GROUP_COMMIT`] later, so a Job of ten thousand tiny instances costs a
//! few hundred commits rather than twenty thousand. A serving node's group
//! commits go to the writer thread (`writer`) while the loop goes on; while
//! one is under way, what the loop records next stays staged for the
//! next (`wasmjob run` commits on its own thread). Writes
//! that a promise rests on — a CronJob's decided time (a run happens once,
//! never twice), an object created or deleted — commit at once: those that
//! only create something new take the writer's urgent lane, ahead of the
//! rows staged and under way (see `writer`); the others commit on the
//! runner's thread, after the batch under way and with everything staged
//! before them. A crash loses at most the last window or two of instance
//! records; those instances run again on resume, the at-least-once a
//! Kubernetes Job gives too (see `staged`).
//!
//! When the store cannot be written (a full disk, a read-only file system,
//! a cluster database that does not answer), a serving node says so once,
//! starts no new instances (the start gate closes), refuses changes with
//! 503, keeps the results of the instances still running in memory, and
//! retries every second; when a commit goes through again it writes what
//! it held and carries on where it stopped. `wasmjob run` does not wait: a
//! store it cannot write ends it with the error, since there is nobody to
//! free the space while it waits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::staged::Staged;
use super::writer::{Outcome, Writer};
use crate::executor::StartGate;
use crate::store::{Store, StoreError, Write};
use crate::time::{self, Micros};

/// How long recorded writes may wait to be committed together.
pub const GROUP_COMMIT: Duration = Duration::from_millis(10);

/// Staged writes past this many commit without waiting for the window.
const GROUP_COMMIT_MAX: usize = 20_000;

/// The group commit window while a relaying Job is finishing (see
/// `jobs::relay::finishing`): its last instances end within milliseconds,
/// and a short window leaves a small last commit for the end of the Job
/// rather than ten milliseconds' worth (a thousand instances, 3-5 ms of
/// SQLite) after the last instance ended.
const GROUP_COMMIT_FINISHING: Duration = Duration::from_millis(2);

/// The group commit window once the writer thread commits: the loop no
/// longer waits for the commit, so a short window costs it nothing, and
/// what a CronJob's decided time must wait for (the rows staged before it,
/// committed first) is two milliseconds' worth rather than ten. Under a
/// flood the fairness row's p99 went from 28-43 ms to 19-29 ms (six runs
/// each, in turn), at the same throughput.
const GROUP_COMMIT_BEHIND: Duration = Duration::from_millis(2);

/// How often a node retries a store it could not write.
pub const RETRY: Duration = Duration::from_secs(1);

/// How often the loop looks whether the batch under way has landed, while
/// it has one: to send the next, or to learn that the store failed.
const UNDER_WAY_POLL: Duration = Duration::from_millis(1);

/// Writes a part of the runner keeps back until the next commit, because
/// by then most of them are superseded: a Job's status once per commit,
/// however many of its instances ended in it, and the rows of relayed
/// instances that still run (most have ended, and are written once).
pub(super) trait Deferred {
    /// Stages what was kept back.
    fn stage_deferred(&mut self, staged: &mut Staged);
}

/// The store could not be written.
struct Unwritable {
    /// Since when.
    since: Instant,
    /// When to try again.
    retry_at: Instant,
    /// The error, as users see it.
    error: StoreError,
}

/// The runner's writes on their way to the store.
pub(super) struct Journal {
    /// The group commits' thread, started at the first (see `writer`).
    /// First, so that when the journal is dropped the batch under way
    /// lands before the store closes.
    writer: Option<Writer>,
    store: Store,
    /// Writes staged for the next group commit, in order.
    staged: Staged,
    /// When the oldest staged write was staged.
    since: Option<Instant>,
    /// A relaying Job is finishing: the shorter window.
    finishing: bool,
    /// The empty buffer a pass of the loop collects its writes in, kept
    /// with its capacity: growing a new one every pass (a write is a few
    /// hundred bytes) made the allocator consolidate its free lists for
    /// every instance.
    scratch: Vec<Write>,
    /// Set while the store cannot be written.
    unwritable: Option<Unwritable>,
    /// Serving: wait for an unwritable store rather than fail.
    hold: bool,
    /// Closed while the store cannot be written.
    gate: Arc<StartGate>,
    /// The writer could not start: everything commits on this thread.
    inline: bool,
    /// A batch was sent to the writer and its outcome not yet handled.
    under_way: bool,
    /// Its outcome, once waited for where it could not be handled.
    landed: Option<Outcome>,
}

impl Journal {
    pub(super) fn new(store: Store, gate: Arc<StartGate>) -> Self {
        Journal {
            store,
            staged: Staged::default(),
            since: None,
            finishing: false,
            scratch: Vec::new(),
            unwritable: None,
            hold: false,
            gate,
            writer: None,
            inline: false,
            under_way: false,
            landed: None,
        }
    }

    /// The store, to read.
    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// The store, to copy what the cluster has into the node's file (see
    /// [`Store::mirror`]); those writes need no group commit. The batch
    /// under way lands first, so they come after it.
    pub(super) fn store_mut(&mut self) -> &mut Store {
        if self.under_way && self.landed.is_none() {
            self.landed = self.writer.as_ref().and_then(|w| w.outcome(true));
        }
        &mut self.store
    }

    /// The store, once the runner ends (the batch under way landed).
    pub(super) fn into_store(self) -> Store {
        drop(self.writer);
        self.store
    }

    /// Serving: a store that cannot be written is waited for.
    pub(super) fn hold_on_errors(&mut self) {
        self.hold = true;
    }

    /// An empty buffer for a pass's writes.
    pub(super) fn scratch(&mut self) -> Vec<Write> {
        std::mem::take(&mut self.scratch)
    }

    /// Whether a relaying Job is finishing (see [`GROUP_COMMIT_FINISHING`]).
    pub(super) fn set_finishing(&mut self, finishing: bool) {
        self.finishing = finishing;
    }

    /// Something deferred waits for the next commit, which must come
    /// within the window even if nothing else is staged.
    pub(super) fn defer(&mut self) {
        self.since.get_or_insert_with(Instant::now);
    }

    /// Stages writes without deciding whether to commit now.
    pub(super) fn append(&mut self, writes: &mut Vec<Write>) {
        if !writes.is_empty() {
            self.staged.append(writes);
            self.defer();
        }
    }

    /// Stages writes without deciding whether to commit now (the next
    /// [`Journal::stage`] does), keeping their buffer for the next pass.
    pub(super) fn append_kept(&mut self, mut writes: Vec<Write>) {
        self.append(&mut writes);
        if writes.capacity() > self.scratch.capacity() {
            self.scratch = writes;
        }
    }

    /// Stages what `deferred` kept back, without committing.
    pub(super) fn stage_deferred(&mut self, deferred: &mut dyn Deferred) {
        deferred.stage_deferred(&mut self.staged);
    }

    /// Stages writes for the next group commit; commits now when one of them
    /// must be durable before the loop goes on, and hands what is staged to
    /// the writer once the window has passed.
    pub(super) fn stage(
        &mut self,
        mut writes: Vec<Write>,
        deferred: &mut dyn Deferred,
    ) -> Result<(), StoreError> {
        self.settle(false)?;
        let mut urgent = writes.iter().any(Write::is_urgent);
        if urgent && self.commit_ahead(&mut writes) {
            urgent = false;
        }
        if !writes.is_empty() {
            self.staged.append(&mut writes);
            self.defer();
        }
        if writes.capacity() > self.scratch.capacity() {
            self.scratch = writes;
        }
        let due = self
            .since
            .is_some_and(|since| since.elapsed() >= self.window());
        if urgent {
            return self.flush(deferred);
        }
        if due || self.staged.len() >= GROUP_COMMIT_MAX {
            self.flush_behind(deferred)?;
        }
        Ok(())
    }

    /// The urgent lane (see `writer`): when the urgent writes among
    /// `writes` only create (a CronJob's decided time and its Job, an
    /// applied object), they commit now ahead of what is staged and of the
    /// rest of the batch under way, which no write they make can touch;
    /// `writes` keeps the others. False when they did not commit (no
    /// writer yet, a store that cannot be written, or another kind of
    /// urgent write): then `writes` is as it was, created first, and the
    /// caller commits everything staged in order.
    fn commit_ahead(&mut self, writes: &mut Vec<Write>) -> bool {
        let Some(writer) = self.writer.as_ref() else {
            return false;
        };
        let creates = (writes.iter().filter(|w| w.is_urgent())).all(Write::only_creates);
        if !creates || self.unwritable.is_some() {
            return false;
        }
        let (first, rest): (Vec<Write>, Vec<Write>) = std::mem::take(writes)
            .into_iter()
            .partition(Write::is_urgent);
        *writes = rest;
        let count = first.len();
        match writer.commit_urgent(first) {
            Ok(()) => {
                self.committed(count);
                true
            }
            Err((e, mut first)) => {
                tracing::debug!("the urgent lane: {e}; committing in order");
                first.append(writes);
                *writes = first;
                false
            }
        }
    }

    /// Hands everything staged to the writer, unless a batch is under way
    /// (then it waits for the next look, or for that batch to land when
    /// staged writes pile up). Commits on this thread while the store
    /// cannot be written, and where the writer could not start.
    fn flush_behind(&mut self, deferred: &mut dyn Deferred) -> Result<(), StoreError> {
        if self.under_way {
            self.settle(self.staged.len() >= GROUP_COMMIT_MAX)?;
            if self.under_way {
                return Ok(());
            }
        }
        if self.unwritable.is_some() || !self.start_writer() {
            return self.flush(deferred);
        }
        self.since = None;
        deferred.stage_deferred(&mut self.staged);
        if self.staged.is_empty() {
            return Ok(());
        }
        let writer = self.writer.as_ref().expect("started above");
        writer.send(self.staged.take());
        self.under_way = true;
        Ok(())
    }

    /// Starts the writer if it has not; false when it cannot start (said
    /// once; everything then commits on this thread, as before it existed).
    ///
    /// Only a serving node has one: its loop answers commands and fires
    /// CronJobs while a batch is written. `wasmjob run` has nothing to do
    /// meanwhile but its own instances, and on two cores a third busy
    /// thread made its 10,000-instance Job 9% slower (`job-throughput`).
    fn start_writer(&mut self) -> bool {
        if !self.hold {
            return false;
        }
        if self.writer.is_some() || self.inline {
            return self.writer.is_some();
        }
        let started = self.store.committer().and_then(|committer| {
            let Some(committer) = committer else {
                return Ok(None);
            };
            Writer::start(committer)
                .map(Some)
                .map_err(|e| StoreError::Unwritable {
                    path: self.store.path().to_path_buf(),
                    detail: format!("could not start the writer thread: {e}"),
                })
        });
        match started {
            Ok(writer) => self.writer = writer,
            Err(e) => tracing::warn!("group commits stay on the runner's thread: {e}"),
        }
        self.inline = self.writer.is_none();
        !self.inline
    }

    /// Handles the outcome of the batch under way, if it has landed (`wait`:
    /// once it has). A failed batch is staged again ahead of what was
    /// staged since, or ends the runner, as a commit here would.
    fn settle(&mut self, wait: bool) -> Result<(), StoreError> {
        if !self.under_way {
            return Ok(());
        }
        let landed = match self.landed.take() {
            Some(outcome) => Some(outcome),
            None => self.writer.as_ref().and_then(|w| w.outcome(wait)),
        };
        let Some(outcome) = landed else {
            return Ok(());
        };
        self.under_way = false;
        match outcome {
            Outcome::Committed => Ok(()),
            Outcome::Failed { error, writes } => {
                self.defer();
                self.failed(error, writes)
            }
        }
    }

    /// How long staged writes may wait.
    fn window(&self) -> Duration {
        if self.finishing {
            GROUP_COMMIT_FINISHING
        } else if self.writer.is_some() {
            GROUP_COMMIT_BEHIND
        } else {
            GROUP_COMMIT
        }
    }

    /// When the staged writes must be committed at the latest.
    pub(super) fn flush_at(&self) -> Option<Micros> {
        let since = match (self.since, self.under_way) {
            (Some(since), _) => since,
            // Nothing staged: only the outcome of the batch under way.
            (None, true) => Instant::now(),
            (None, false) => return None,
        };
        let mut left = self.window().saturating_sub(since.elapsed());
        if self.under_way {
            left = left.max(UNDER_WAY_POLL);
        }
        Some(time::now() + left.as_micros() as Micros)
    }

    /// Commits everything staged, on this thread, once the batch under way
    /// has landed. A transient failure while serving keeps the writes
    /// staged and stops new work (see the module doc); anything else is
    /// returned, the staged writes dropped.
    pub(super) fn flush(&mut self, deferred: &mut dyn Deferred) -> Result<(), StoreError> {
        self.settle(true)?;
        self.since = None;
        deferred.stage_deferred(&mut self.staged);
        if self.staged.is_empty() {
            return Ok(());
        }
        if self
            .unwritable
            .as_ref()
            .is_some_and(|u| Instant::now() < u.retry_at)
        {
            return Ok(());
        }
        // Committed from where they are staged, and cleared after, so the
        // buffer keeps its capacity for the next window (`wasmjob run`
        // commits here every 10 ms).
        match self.store.commit(self.staged.as_slice()) {
            Ok(()) => {
                let held = self.staged.len();
                self.staged.clear();
                self.committed(held);
                Ok(())
            }
            Err(e) => {
                let writes = self.staged.take();
                self.failed(e, writes)
            }
        }
    }

    /// A commit of `writes` failed, here or on the writer thread.
    fn failed(&mut self, e: StoreError, writes: Vec<Write>) -> Result<(), StoreError> {
        match e {
            e if self.hold && e.is_transient() => {
                // Ahead of anything staged since they were taken.
                self.staged.put_back(writes);
                self.hold_writes(e);
                Ok(())
            }
            StoreError::Conflict { detail } => {
                // Another node owns what this batch decided (this node was
                // late to heartbeat and its work was taken over): the batch
                // is dropped, and the next cluster pass drops the runs.
                tracing::warn!("cluster: {detail}; this node's writes were dropped");
                Ok(())
            }
            e => {
                self.staged.clear();
                Err(e)
            }
        }
    }

    /// A commit of `held` writes went through, and a store that could not
    /// be written is writable again.
    fn committed(&mut self, held: usize) {
        if let Some(u) = self.unwritable.take() {
            self.gate.set_unwritable(false);
            eprintln!(
                "wasmjob serve: the state database can be written again after {:.0?}; \
                 {held} held writes saved, taking new work",
                u.since.elapsed()
            );
            tracing::info!(held, "the state database can be written again");
        }
    }

    /// The store cannot be written now: the writes stay staged, and the
    /// node starts nothing new until they are written.
    fn hold_writes(&mut self, e: StoreError) {
        let now = Instant::now();
        if let Some(u) = &mut self.unwritable {
            u.retry_at = now + RETRY;
            return;
        }
        let error = e.unwritable();
        eprintln!(
            "wasmjob serve: {error}. Until then this node starts no new work; \
             running instances go on and their results are kept. Retrying every {}s",
            RETRY.as_secs()
        );
        tracing::error!(%error, "the state database cannot be written");
        self.gate.set_unwritable(true);
        self.unwritable = Some(Unwritable {
            since: now,
            retry_at: now + RETRY,
            error,
        });
    }

    /// Stages `writes` and commits everything staged now. Err when the
    /// store cannot be written; the writes then stay staged, written when
    /// it can (the caller has already acted on them).
    pub(super) fn commit_now(
        &mut self,
        writes: Vec<Write>,
        deferred: &mut dyn Deferred,
    ) -> Result<(), StoreError> {
        self.staged.extend(writes);
        self.flush(deferred)?;
        match &self.unwritable {
            Some(u) => Err(u.error.unwritable()),
            None => Ok(()),
        }
    }

    /// Commits a change the cluster must have before anyone is told (an
    /// apply, a delete; see [`Store::publish`]): what was staged before it
    /// first, then these writes, to the cluster's database and then the
    /// node's file. Nothing of them is kept when they cannot be written.
    pub(super) fn publish(
        &mut self,
        writes: Vec<Write>,
        deferred: &mut dyn Deferred,
    ) -> Result<(), StoreError> {
        self.commit_now(Vec::new(), deferred)?;
        self.store.publish(&writes)
    }

    /// While the store cannot be written: tries again when it is time, and
    /// says when to try next (`None` once it could be written).
    pub(super) fn retry(
        &mut self,
        deferred: &mut dyn Deferred,
    ) -> Result<Option<Instant>, StoreError> {
        self.settle(false)?;
        if self.unwritable.is_none() {
            return Ok(None);
        }
        self.flush(deferred)?;
        Ok(self.unwritable.as_ref().map(|u| u.retry_at))
    }

    /// Why the store cannot be written, while it cannot.
    pub(super) fn unwritable(&self) -> Option<&StoreError> {
        self.unwritable.as_ref().map(|u| &u.error)
    }
}

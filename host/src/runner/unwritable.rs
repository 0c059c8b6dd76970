//! What a serving node does when its store cannot be written (a full disk,
//! a read-only file system): it says so once, starts no new instances,
//! refuses changes with 503, keeps the results of the instances still
//! running in memory, and retries every second; when a commit goes through
//! again it writes what it held and carries on where it stopped.
//!
//! `wasmjob run` does not wait: a store it cannot write ends it with the
//! error, since there is nobody to free the space while it waits.

use std::time::{Duration, Instant};

use super::{Command, Runner};
use crate::store::StoreError;

/// How often a node retries a store it could not write.
pub const RETRY: Duration = Duration::from_secs(1);

/// The node's store could not be written.
pub(super) struct Unwritable {
    /// Since when.
    since: Instant,
    /// When to try again.
    retry_at: Instant,
    /// The error, as users see it.
    error: StoreError,
}

impl Runner {
    /// Commits everything staged. A transient failure while serving keeps the
    /// writes staged and stops new work (see the module doc); anything else
    /// is returned, the staged writes dropped.
    pub(super) fn flush(&mut self) -> Result<(), StoreError> {
        self.staged_since = None;
        self.stage_unwritten();
        self.stage_statuses();
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
        match self.store.commit(self.staged.as_slice()) {
            Ok(()) => {
                let held = self.staged.len();
                self.staged.clear();
                if let Some(u) = self.unwritable.take() {
                    self.set_relays_open(self.draining.is_none());
                    eprintln!(
                        "wasmjob serve: the state database can be written again after {:.0?}; \
                         {held} held writes saved, taking new work",
                        u.since.elapsed()
                    );
                    tracing::info!(held, "the state database can be written again");
                }
                Ok(())
            }
            Err(e) if self.hold_on_store_errors && e.is_transient() => {
                let now = Instant::now();
                match &mut self.unwritable {
                    Some(u) => u.retry_at = now + RETRY,
                    None => {
                        let error = e.unwritable();
                        eprintln!(
                            "wasmjob serve: {error}. Until then this node starts no new work; \
                             running instances go on and their results are kept. Retrying every {}s",
                            RETRY.as_secs()
                        );
                        tracing::error!(%error, "the state database cannot be written");
                        self.set_relays_open(false);
                        self.unwritable = Some(Unwritable {
                            since: now,
                            retry_at: now + RETRY,
                            error,
                        });
                    }
                }
                Ok(())
            }
            Err(StoreError::Conflict { detail }) => {
                // Another node owns what this batch decided (this node was
                // late to heartbeat and its work was taken over): the batch
                // is dropped, and the next cluster pass drops the runs.
                tracing::warn!("cluster: {detail}; this node's writes were dropped");
                self.staged.clear();
                Ok(())
            }
            Err(e) => {
                self.staged.clear();
                Err(e)
            }
        }
    }

    /// Stages `writes` and commits everything staged now. Err when the
    /// store cannot be written; the writes then stay staged, written when
    /// it can (the caller has already acted on them).
    pub(super) fn commit_now(&mut self, writes: Vec<super::Write>) -> Result<(), StoreError> {
        self.staged.extend(writes);
        self.flush()?;
        match &self.unwritable {
            Some(u) => Err(u.error.unwritable()),
            None => Ok(()),
        }
    }

    /// Like [`Runner::commit_now`], but the writes are dropped when they
    /// cannot be written: for a change not yet made anywhere but in them.
    pub(super) fn commit_or_discard(
        &mut self,
        writes: Vec<super::Write>,
    ) -> Result<(), StoreError> {
        let before = self.staged.len();
        let result = self.commit_now(writes);
        if result.is_err() {
            self.staged.truncate(before);
        }
        result
    }

    /// While the store cannot be written: when to try it again.
    pub(super) fn unwritable_retry(&mut self) -> Result<Option<Instant>, StoreError> {
        if self.unwritable.is_none() {
            return Ok(None);
        }
        self.flush()?;
        Ok(self.unwritable.as_ref().map(|u| u.retry_at))
    }

    /// A command that arrives while the store cannot be written is answered
    /// with the reason, except a shutdown, which goes ahead.
    pub(super) fn refuse_or_run(&mut self, command: Command) -> Result<(), StoreError> {
        let Some(u) = &self.unwritable else {
            return self.command(command);
        };
        let message = format!("{}; this node takes no new work until then", u.error);
        match command {
            Command::Apply { reply, .. } => {
                let _ = reply.send(Err(super::commands::ApplyFailure {
                    status: 503,
                    message,
                }));
            }
            Command::Delete { reply, .. } => {
                let _ = reply.send(Err(message));
            }
            Command::Relabel { reply, .. } => {
                let _ = reply.send(Err(message));
            }
            shutdown @ Command::Shutdown { .. } => return self.command(shutdown),
        }
        Ok(())
    }
}

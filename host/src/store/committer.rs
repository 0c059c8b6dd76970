//! A second writing connection to a node's file, for the commits a runner
//! makes off its own thread (see `runner::writer`): the runner's store
//! keeps reading, and writing what must be written before it goes on,
//! while a commit of instance records is under way on this one.
//!
//! SQLite lets one connection write at a time; the runner never commits on
//! its own connection while this one's commit is under way, so neither
//! waits for the other's lock.

use std::sync::Arc;

use super::forward::Link;
use super::sqlite::Sqlite;
use super::{Store, StoreError, Write};

/// Commits batches of writes to a node's file, as [`Store::commit`] does.
pub struct Committer {
    local: Sqlite,
    /// A cluster node's: told when a commit named records to send.
    link: Option<Arc<Link>>,
}

impl Store {
    /// A connection of its own that commits to this store's file, for a
    /// thread of its own; `None` where commits must go through this store
    /// (the store tests' cluster store commits to the cluster's database).
    pub fn committer(&self) -> Result<Option<Committer>, StoreError> {
        if self.shared.as_ref().is_some_and(|s| s.direct) {
            return Ok(None);
        }
        let mut local = Sqlite::open(self.local.path())?;
        local.forwarding = self.local.forwarding;
        let link = self.shared.as_ref().map(|s| s.link.clone());
        Ok(Some(Committer { local, link }))
    }
}

impl Committer {
    /// Commits a batch of writes in one transaction (see [`Store::commit`]).
    pub fn commit(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.local.commit(writes)?;
        if let Some(link) = &self.link {
            link.poke();
        }
        Ok(())
    }

    /// Commits `writes` in one transaction; when `stop` says to (asked
    /// every few writes), the part of them applied so far — or none, with
    /// `discard`: how many were committed. A commit that must come first
    /// goes in before the rest.
    pub fn commit_until(
        &mut self,
        writes: &[Write],
        stop: &dyn Fn() -> bool,
        discard: bool,
    ) -> Result<usize, StoreError> {
        if writes.is_empty() {
            return Ok(0);
        }
        let committed = self.local.commit_until(writes, stop, discard)?;
        if let Some(link) = &self.link {
            link.poke();
        }
        Ok(committed)
    }
}

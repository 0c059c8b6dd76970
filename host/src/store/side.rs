//! A connection of its own to a node's file, opened at its first use, for
//! what an instance writes while it runs (checkpoints, key-value values):
//! its write is durable when the call returns, without waiting for the
//! runner's next batch, and a `wasmjob run` of modules that never call it
//! opens nothing.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use rusqlite::Connection;

use super::StoreError;

/// The connection, once opened.
pub(super) struct SideConnection {
    conn: OnceLock<Mutex<Connection>>,
    path: PathBuf,
}

impl SideConnection {
    /// One to the file at `path` (already migrated by
    /// [`super::Store::open`]).
    pub(super) fn new(path: &Path) -> SideConnection {
        SideConnection {
            conn: OnceLock::new(),
            path: path.to_path_buf(),
        }
    }

    /// The file's error for `source`.
    pub(super) fn error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The connection, opened now if it was not.
    pub(super) fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        if self.conn.get().is_none() {
            let conn = Connection::open(&self.path).map_err(|e| self.error(e))?;
            super::configure_connection(&conn, 10_000).map_err(|e| self.error(e))?;
            // Two threads opening at once: one connection wins, the other closes.
            let _ = self.conn.set(Mutex::new(conn));
        }
        let conn = self.conn.get().expect("set above");
        Ok(conn.lock().expect("side connection"))
    }
}

//! Why the store cannot do what was asked, in words that say what to do.

use std::path::{Path, PathBuf};

/// Why the store cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("state database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file is not an SQLite database, or SQLite found it damaged.
    #[error(
        "state database {path} is corrupted or is not a database ({detail}). It was not \
         modified: restore it from a backup, or move it aside to start with an empty history"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite found.
        detail: String,
    },
    /// An SQLite database that some other program made.
    #[error(
        "state database {path} is an SQLite database that wasmjob did not make (it has tables \
         but no wasmjob schema version). It was not modified: use another --state-dir"
    )]
    Foreign {
        /// The database file.
        path: PathBuf,
    },
    /// The database cannot be written now (a full disk, a read-only file
    /// system); a node holds what it must write and takes no new work.
    #[error(
        "cannot write the state database {path} ({detail}): free disk space, or make the file \
         system writable"
    )]
    Unwritable {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        detail: String,
    },
    /// PostgreSQL failed (the cluster store).
    #[error("cluster database {url}: {}", pg_detail(.source))]
    Postgres {
        /// The database URL, password hidden.
        url: String,
        /// The client's error.
        source: ::postgres::Error,
    },
    /// The cluster's database does not answer; a node holds its writes.
    #[error(
        "cannot reach the cluster database {url} ({detail}): check that PostgreSQL runs and \
         this machine reaches it"
    )]
    Unreachable {
        /// The database URL, password hidden.
        url: String,
        /// The client's error.
        detail: String,
    },
    /// Another node decided what this batch decides (a CronJob's scheduled
    /// time); nothing of the batch was written.
    #[error("{detail}")]
    Conflict {
        /// What was decided elsewhere.
        detail: String,
    },
    /// The file was written by a newer wasmjob.
    #[error(
        "state database {path} has schema version {found}, newer than this wasmjob knows \
         ({known}); upgrade wasmjob or use another --state-dir. It was not modified."
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The file's version.
        found: i64,
        /// The newest this binary knows.
        known: i64,
    },
}

/// A PostgreSQL error as users read it: the server's message (the client
/// says only "db error") or the client's.
fn pg_detail(e: &::postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Whether PostgreSQL's error is the server not answering (a connection
/// that broke, could not be made, or timed out) rather than an answer.
fn unanswered(e: &::postgres::Error) -> bool {
    if e.as_db_error().is_some() {
        return false;
    }
    let text = e.to_string();
    e.is_closed()
        || [
            "error communicating with the server",
            "connection closed",
            "error connecting to server",
            "timeout waiting for server",
        ]
        .iter()
        .any(|kind| text.starts_with(kind))
}

impl StoreError {
    /// A failure that goes away with the condition that caused it (space
    /// freed, the file system writable again, another writer done) rather
    /// than a damaged file or a bug.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode::{
            CannotOpen, DatabaseBusy, DatabaseLocked, DiskFull, ReadOnly, SystemIoFailure,
        };
        match self {
            StoreError::Unwritable { .. } | StoreError::Unreachable { .. } => true,
            // No answer from the server (it restarts, the network is down):
            // the node waits for it as for a full disk. A statement the
            // client itself refuses is no such thing.
            StoreError::Postgres { source, .. } => unanswered(source),
            StoreError::Sqlite { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(
                    DiskFull
                        | ReadOnly
                        | SystemIoFailure
                        | CannotOpen
                        | DatabaseBusy
                        | DatabaseLocked
                )
            ),
            _ => false,
        }
    }

    /// This error as the node reports a store it cannot write.
    pub fn unwritable(&self) -> StoreError {
        match self {
            StoreError::Sqlite { path, source } => StoreError::Unwritable {
                path: path.clone(),
                detail: source.to_string(),
            },
            StoreError::Unwritable { path, detail } => StoreError::Unwritable {
                path: path.clone(),
                detail: detail.clone(),
            },
            StoreError::Postgres { url, source } => StoreError::Unreachable {
                url: url.clone(),
                detail: source.to_string(),
            },
            StoreError::Unreachable { url, detail } => StoreError::Unreachable {
                url: url.clone(),
                detail: detail.clone(),
            },
            other => StoreError::Unwritable {
                path: PathBuf::new(),
                detail: other.to_string(),
            },
        }
    }

    /// SQLite's error, as the kind of failure the user must act on.
    pub(super) fn from_sqlite(path: &Path, source: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        match source.sqlite_error_code() {
            Some(DatabaseCorrupt | NotADatabase) => StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: source.to_string(),
            },
            _ => StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

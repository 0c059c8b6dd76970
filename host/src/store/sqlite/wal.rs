//! Checkpoints of the write-ahead log on a thread of their own.
//!
//! A checkpoint copies committed pages from the WAL back into the database
//! file, and fsyncs both. Done by SQLite inside a commit (its
//! auto-checkpoint), the runner waits for the disk in the middle of a Job;
//! left for the store's close, a `wasmjob run` of ten thousand instances
//! waited 15-30 ms at its end for the whole run's WAL to reach the disk.
//! Here a connection of its own checkpoints in the background each time the
//! writer's commits have added [`STEP`] pages to the WAL, while the runner
//! goes on, so what is left when the store closes is little. A store that
//! never writes that much (a run of one instance) never starts the thread.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;

use rusqlite::Connection;

/// Pages added to the WAL between background checkpoints: 1 MiB.
const STEP: i32 = 256;

/// Pages past which the writer checkpoints itself, as SQLite's own
/// auto-checkpoint would, when the thread could not start (32 MiB).
const INLINE_AFTER: i32 = 8192;

/// The background checkpoints of one database file, started at the first
/// commit that leaves [`STEP`] pages in the WAL.
pub(super) struct Background {
    path: PathBuf,
    /// The WAL's size in pages when the thread was last asked to checkpoint.
    asked_at: AtomicI32,
    /// The WAL's size in pages after the writer's last commit: the frames
    /// since the log last started over, which the next process opening the
    /// file reads back. Zero until this writer commits.
    frames: AtomicI32,
    worker: OnceLock<Worker>,
    /// The thread could not open its connection.
    failed: Arc<AtomicBool>,
}

struct Worker {
    signal: Arc<(Mutex<Signal>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct Signal {
    due: bool,
    stop: bool,
}

impl Background {
    /// Checkpoints of the database at `path`, once asked for.
    pub(super) fn new(path: &Path) -> Arc<Self> {
        Arc::new(Background {
            path: path.to_path_buf(),
            asked_at: AtomicI32::new(0),
            frames: AtomicI32::new(0),
            worker: OnceLock::new(),
            failed: Arc::default(),
        })
    }

    /// Installs the hook on the writer's connection: after each commit,
    /// SQLite reports how many pages the WAL holds. This replaces SQLite's
    /// own auto-checkpoint, which ran inside the writer's commits.
    pub(super) fn watch(self: &Arc<Self>, conn: &mut Connection) -> rusqlite::Result<()> {
        let background = Arc::clone(self);
        conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages: i32| {
            if background.failed.load(Ordering::Relaxed) && pages >= INLINE_AFTER {
                // An error (a checkpoint under way elsewhere) must not fail
                // the commit, which has happened: the pages wait in the WAL.
                if let Err(e) = wal.checkpoint() {
                    tracing::debug!("checkpoint after a commit: {e}");
                }
                return Ok(());
            }
            background.committed(pages);
            Ok(())
        }))
    }

    /// The WAL's size in pages after the writer's last commit (zero before
    /// its first).
    pub(super) fn frames(&self) -> i32 {
        self.frames.load(Ordering::Relaxed)
    }

    /// A commit left `pages` pages in the WAL.
    fn committed(&self, pages: i32) {
        self.frames.store(pages, Ordering::Relaxed);
        let asked = self.asked_at.load(Ordering::Relaxed);
        if pages < asked {
            // A checkpoint emptied the WAL and writing started over.
            self.asked_at.store(0, Ordering::Relaxed);
            return;
        }
        if pages - asked < STEP {
            return;
        }
        self.asked_at.store(pages, Ordering::Relaxed);
        let worker = self
            .worker
            .get_or_init(|| Worker::start(self.path.clone(), self.failed.clone()));
        let (state, wake) = &*worker.signal;
        state.lock().expect("checkpoint signal").due = true;
        wake.notify_one();
    }

    /// Stops the thread, after the checkpoint it may be doing.
    pub(super) fn stop(&self) {
        let Some(worker) = self.worker.get() else {
            return;
        };
        let (state, wake) = &*worker.signal;
        state.lock().expect("checkpoint signal").stop = true;
        wake.notify_one();
        if let Some(thread) = worker.thread.lock().expect("checkpoint thread").take() {
            let _ = thread.join();
        }
    }
}

impl Worker {
    fn start(path: PathBuf, failed: Arc<AtomicBool>) -> Worker {
        let signal: Arc<(Mutex<Signal>, Condvar)> = Arc::default();
        let theirs = Arc::clone(&signal);
        let flag = failed.clone();
        let thread = std::thread::Builder::new()
            .name("wasmjob-wal".into())
            .spawn(move || {
                if checkpoint_when_asked(&path, &theirs).is_err() {
                    flag.store(true, Ordering::Relaxed);
                }
            })
            .map_err(|e| {
                tracing::debug!("no background checkpoints: {e}");
                failed.store(true, Ordering::Relaxed);
            })
            .ok();
        Worker {
            signal,
            thread: Mutex::new(thread),
        }
    }
}

/// The thread: a passive checkpoint (it neither waits for nor blocks the
/// writer or any reader) each time it is asked, until it is stopped. Err
/// when it cannot open its connection: the writer then checkpoints itself.
fn checkpoint_when_asked(path: &Path, signal: &(Mutex<Signal>, Condvar)) -> Result<(), ()> {
    let conn = Connection::open(path)
        .and_then(|conn| super::configure_connection(&conn, 0).map(|()| conn))
        .map_err(|e| tracing::debug!("no background checkpoints for {}: {e}", path.display()))?;
    let (state, wake) = signal;
    loop {
        {
            let mut state = state.lock().expect("checkpoint signal");
            while !state.due && !state.stop {
                state = wake.wait(state).expect("checkpoint signal");
            }
            if state.stop {
                return Ok(());
            }
            state.due = false;
        }
        // A failure (a full disk) leaves the pages in the WAL, where they
        // are as safe; the next commit asks again.
        if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
            tracing::debug!("background checkpoint of {}: {e}", path.display());
        }
    }
}

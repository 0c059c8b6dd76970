//! Store and forward: a cluster node writes everything it does to its own
//! file first — the truth about what it runs — and a thread of its own
//! sends it on to the cluster's database in batches. While the database
//! does not answer, the node carries on alone and its outbox grows; when
//! the database answers again the thread sends what waited, oldest first,
//! so nothing the node did is lost, and nothing is written twice (see
//! `postgres::forwarded`). The [`Link`] says how the node stands with the
//! database, for the runner's cluster part and the API.

pub(super) mod batch;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::StoreError;
use super::postgres::Pg;
use super::sqlite::outbox::OutboxReader;
use crate::time::{self, Micros};

/// Records sent in one transaction at most.
const BATCH: usize = 2_000;

/// How often a node tries a database that did not answer.
const RETRY: Duration = Duration::from_secs(1);

/// How long the last records may take to go when the node stops.
const LAST_SEND: Duration = Duration::from_secs(2);

/// How a node stands with its cluster's database.
#[derive(Debug, Default)]
pub struct Link {
    /// Since when the database has not answered (µs), 0 while it does.
    away_since: AtomicI64,
    /// Records waiting to be sent, as last counted.
    backlog: AtomicU64,
    /// A commit named new records: the forwarder looks now.
    dirty: Mutex<bool>,
    wake: Condvar,
    stop: AtomicBool,
}

impl Link {
    /// Whether the database answered the last call made to it.
    pub fn is_up(&self) -> bool {
        self.away_since.load(Ordering::Acquire) == 0
    }

    /// Since when the database has not answered, if it does not.
    pub fn away_since(&self) -> Option<Micros> {
        match self.away_since.load(Ordering::Acquire) {
            0 => None,
            since => Some(since),
        }
    }

    /// Records this node has not sent yet, as last counted.
    pub fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Acquire)
    }

    /// The database answered; true when it had not before.
    pub fn reached(&self) -> bool {
        self.away_since.swap(0, Ordering::AcqRel) != 0
    }

    /// The database did not answer; true when it had before. The first
    /// failure is what `away_since` says.
    pub fn lost(&self) -> bool {
        self.away_since
            .compare_exchange(0, time::now(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// A commit named records to send.
    pub(super) fn poke(&self) {
        *self.dirty.lock().expect("never poisoned") = true;
        self.wake.notify_one();
    }

    /// Waits until poked, stopped, or `timeout` passed.
    fn wait(&self, timeout: Duration) {
        let dirty = self.dirty.lock().expect("never poisoned");
        let (mut dirty, _) = self
            .wake
            .wait_timeout_while(dirty, timeout, |d| {
                !*d && !self.stop.load(Ordering::Acquire)
            })
            .expect("never poisoned");
        *dirty = false;
    }
}

/// The thread that sends a node's outbox; the last records go when it is
/// dropped, if the database answers within [`LAST_SEND`].
pub(super) struct Forwarder {
    link: Arc<Link>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Forwarder {
    /// Starts sending the outbox of the node file at `path` through `pg`.
    pub fn start(path: &Path, pg: Pg, link: Arc<Link>) -> Result<Forwarder, StoreError> {
        let reader = OutboxReader::open(path)?;
        if let Ok(n) = reader.backlog() {
            link.backlog.store(n, Ordering::Release);
        }
        let shared = link.clone();
        let thread = std::thread::Builder::new()
            .name("wasmjob-forward".into())
            .spawn(move || run(reader, &pg, &shared))
            .expect("spawning the forwarder thread");
        Ok(Forwarder {
            link,
            thread: Some(thread),
        })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.link.stop.store(true, Ordering::Release);
        self.link.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(mut reader: OutboxReader, pg: &Pg, link: &Link) {
    let mut stopping_at: Option<Instant> = None;
    loop {
        let stopping = link.stop.load(Ordering::Acquire);
        if stopping {
            let deadline = *stopping_at.get_or_insert_with(|| Instant::now() + LAST_SEND);
            if Instant::now() >= deadline {
                return;
            }
        }
        match send_all(&mut reader, pg, link) {
            Sent::All if stopping => return,
            Sent::All => link.wait(RETRY),
            Sent::Away if stopping => std::thread::sleep(Duration::from_millis(100)),
            Sent::Away => link.wait_stop(RETRY),
        }
    }
}

impl Link {
    /// Waits `timeout`, or until stopped (pokes do not shorten a wait for
    /// a database that did not answer).
    fn wait_stop(&self, timeout: Duration) {
        let dirty = self.dirty.lock().expect("never poisoned");
        let _ = self
            .wake
            .wait_timeout_while(dirty, timeout, |_| !self.stop.load(Ordering::Acquire))
            .expect("never poisoned");
    }
}

/// How a round of sending ended.
enum Sent {
    /// Nothing waits.
    All,
    /// The database (or the file) did not answer; try again later.
    Away,
}

/// Sends batches until nothing waits or the database does not answer.
fn send_all(reader: &mut OutboxReader, pg: &Pg, link: &Link) -> Sent {
    loop {
        let batch = match reader.take(BATCH) {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!("cluster: cannot read the records to send: {e}");
                return Sent::Away;
            }
        };
        if batch.is_empty() {
            link.backlog.store(0, Ordering::Release);
            // Nothing to send, but the node waits to hear that the
            // database answers again: ask it.
            if !link.is_up() {
                return match pg.ping() {
                    Ok(()) => {
                        if link.reached() {
                            tracing::info!("cluster: the database answers again");
                        }
                        Sent::All
                    }
                    Err(_) => Sent::Away,
                };
            }
            return Sent::All;
        }
        match pg.forward(&batch) {
            Ok(()) => {
                if link.reached() {
                    let waiting = reader.backlog().unwrap_or(0);
                    tracing::info!(
                        "cluster: the database answers again; sending the {waiting} record(s) \
                         this node kept while it was away"
                    );
                }
            }
            Err(e) if e.is_transient() => {
                if link.lost() {
                    tracing::warn!(
                        "cluster: {e}; this node carries on alone and keeps what it does to \
                         send later"
                    );
                }
                if let Ok(n) = reader.backlog() {
                    link.backlog.store(n, Ordering::Release);
                }
                return Sent::Away;
            }
            Err(e) => send_one_by_one(pg, &batch, &e),
        }
        if let Err(e) = reader.done(&batch.seqs) {
            tracing::warn!("cluster: cannot note the records sent: {e}");
            return Sent::Away;
        }
        if let Ok(n) = reader.backlog() {
            link.backlog.store(n, Ordering::Release);
        }
    }
}

/// The database refused a batch (not for want of an answer): each record
/// is sent alone, and one it refuses is left out with a warning, so one
/// bad record never holds back the rest.
fn send_one_by_one(pg: &Pg, batch: &batch::Batch, error: &StoreError) {
    tracing::warn!(
        "cluster: the database refused a batch of records ({error}); sending them one by one"
    );
    for single in batch.singles() {
        if let Err(e) = pg.forward(&single) {
            tracing::error!("cluster: a record was left out: the database refused it: {e}");
        }
    }
}

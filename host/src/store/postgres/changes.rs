//! Change notices between the nodes of a cluster. A commit that offers
//! instances, ends one that another node's Job owns, or stops one that
//! another node runs says so with PostgreSQL's `NOTIFY`, inside its
//! transaction, so a notice arrives only for a committed change. Every node
//! `LISTEN`s on a connection of its own and wakes its runner, which then
//! reads the rows. A notice lost with a broken connection costs latency,
//! never correctness: every node also reads them once per heartbeat.
//!
//! Every batch a node sends is noticed this way (`Changes::RECORDS`), so
//! the API's watches on every node look again when any node's records
//! reach the database (see `store::commits`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator as _;
use postgres::{Client, NoTls};

use crate::manifest::Phase;
use crate::store::{Changes, Noticed, Write};

/// The channel every node listens on.
pub(super) const CHANNEL: &str = "wasmjob_instances";

/// What a batch of writes by `node` changes for the other nodes.
pub(super) fn of(writes: &[Write], node: &str) -> Changes {
    writes.iter().fold(Changes::NONE, |changes, write| {
        changes.with(match write {
            // An instance row written by a node that is not running it:
            // the owner offers it, or stops it under another node.
            Write::Instance(i) if i.node_name != node => match i.phase {
                Phase::Pending => Changes::OFFERED,
                _ => Changes::STOPPED,
            },
            Write::InstanceLogged { instance, .. } if instance.node_name != node => {
                Changes::STOPPED
            }
            Write::InstanceEnded(_) => Changes::ENDED,
            _ => Changes::NONE,
        })
    })
}

/// The notice's payload.
pub(super) fn payload(changes: Changes) -> String {
    changes.0.to_string()
}

/// The changes a notice's payload names, for the runner.
fn parse(payload: &str) -> Changes {
    // A payload this version does not know: look at everything.
    payload
        .parse::<u8>()
        .map_or(Changes::ALL, |bits| Changes(bits & Changes::ALL.0))
}

/// A thread that listens for change notices; it stops when dropped.
pub struct Listener {
    stop: Arc<AtomicBool>,
}

impl Listener {
    /// Listens on the database at `url`. Each notice is added to `noticed`;
    /// `wake` is called when the runner has to be woken, and returns false
    /// once nobody listens any more, which ends the thread.
    pub fn start(
        url: &str,
        noticed: Arc<Noticed>,
        wake: impl Fn() -> bool + Send + 'static,
    ) -> Listener {
        let stop = Arc::new(AtomicBool::new(false));
        let url = url.to_owned();
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("wasmjob-listen".into())
            .spawn(move || listen(&url, &noticed, &wake, &stopped))
            .expect("spawning the listener thread");
        Listener { stop }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// How long the thread waits for a notice before it checks whether to stop.
const POLL: Duration = Duration::from_millis(500);

fn listen(url: &str, noticed: &Noticed, wake: &dyn Fn() -> bool, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        let mut client = match Client::connect(url, NoTls) {
            Ok(client) => client,
            Err(e) => {
                tracing::debug!("cluster: cannot listen for changes yet: {e}");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")) {
            tracing::debug!("cluster: LISTEN failed: {e}");
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        // Notices may have been missed while the connection was away.
        crate::store::commits::committed();
        if noticed.add(Changes::ALL) && !wake() {
            return;
        }
        while !stop.load(Ordering::Acquire) {
            let next = client.notifications().timeout_iter(POLL).next();
            match next {
                Ok(Some(notice)) => {
                    crate::store::commits::committed();
                    if noticed.add(parse(notice.payload())) && !wake() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!("cluster: the change listener lost its connection: {e}");
                    break;
                }
            }
        }
    }
}

impl super::Pg {
    /// Starts listening for the cluster's change notices (see [`Listener::start`]).
    pub fn listen(
        &self,
        noticed: Arc<Noticed>,
        wake: impl Fn() -> bool + Send + 'static,
    ) -> Listener {
        Listener::start(&self.url, noticed, wake)
    }
}

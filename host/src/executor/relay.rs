//! Relaying: an executor slot that starts a Job's next instance itself the
//! moment one succeeds, from the successors the runner decided for it, as
//! long as the node starts new work (its [`StartGate`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::Launch;

/// Whether this node starts new instances: executor slots relaying
/// successors look at it before each (see [`Relay`]), and wake when it
/// changes. It is closed while the node drains after a shutdown, and while
/// its store cannot be written.
#[derive(Debug, Default)]
pub struct StartGate {
    draining: AtomicBool,
    unwritable: AtomicBool,
    changed: tokio::sync::Notify,
}

impl StartGate {
    /// The node drains: it starts nothing new, for good.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Whether the node's store can be written; slots waiting for a
    /// successor look again.
    pub fn set_unwritable(&self, unwritable: bool) {
        self.unwritable.store(unwritable, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Whether new instances may start.
    pub fn is_open(&self) -> bool {
        !self.draining.load(Ordering::Acquire) && !self.unwritable.load(Ordering::Acquire)
    }
}

/// Lets an executor slot start a Job's next instance by itself when one
/// succeeds, without waiting for the runner: the runner puts the successor,
/// decided and prepared, in `queue`, and closes `gate` while the node must
/// start nothing new (it drains, or its store cannot be written).
#[derive(Clone)]
pub struct Relay {
    /// Whether the node still starts instances.
    pub gate: Arc<StartGate>,
    /// The next instances of the slot, as far as the runner has decided them.
    pub queue: Arc<RelayQueue>,
}

/// The successors of one executor slot, in order. A slot that has run all
/// it was given waits here for the runner, which either gives it more or
/// closes the queue (the Job needs no more of its instances); it does not
/// end: a slot that ended whenever the runner fell a few milliseconds
/// behind (its thread is one of three on two cores) was started again, and
/// the successors decided for it meanwhile were thrown away.
#[derive(Default)]
pub struct RelayQueue {
    state: Mutex<Successors>,
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct Successors {
    next: VecDeque<Launch>,
    closed: bool,
    /// The slot asked for its next instance and has not taken one since:
    /// it runs nothing now. (A slot starts running; so `false` until it
    /// first asks.)
    idle: bool,
}

/// What a slot closed by [`RelayQueue::give_way`] leaves.
pub struct GivenWay {
    /// The successors it had not started.
    pub not_started: VecDeque<Launch>,
    /// It ran no instance when it was closed: it will run none again, and
    /// holds no room, though its last ends are still to be reported.
    pub idle: bool,
}

impl RelayQueue {
    /// Adds a successor.
    pub fn push(&self, launch: Launch) {
        self.state
            .lock()
            .expect("relay queue")
            .next
            .push_back(launch);
        self.wake.notify_one();
    }

    /// The slot gets no more successors: it ends once it has run those it
    /// has.
    pub fn close(&self) {
        self.state.lock().expect("relay queue").closed = true;
        self.wake.notify_one();
    }

    /// Closes the queue and takes back the successors not started.
    pub fn take_back(&self) -> VecDeque<Launch> {
        self.give_way().not_started
    }

    /// Closes the queue and takes back the successors not started, saying
    /// whether the slot was between instances: a slot waiting for its
    /// successor, or queued on the runtime to take the next one, runs
    /// nothing, and once closed it never will. Under a flood nearly every
    /// slot is one of those (two cores run two instances at a time), and
    /// each waits its turn on the workers before it reports its end — a
    /// round of every other slot's instances, 10-30 ms — so the room a
    /// closed slot frees is counted free at once rather than then.
    pub fn give_way(&self) -> GivenWay {
        let mut state = self.state.lock().expect("relay queue");
        state.closed = true;
        GivenWay {
            not_started: std::mem::take(&mut state.next),
            idle: state.idle,
        }
    }
}

impl RelayQueue {
    /// The next successor if one is given (`Some(Some(..))`), or the end of
    /// the slot once the queue is closed and empty (`Some(None)`); `None`
    /// while the runner has not decided yet.
    fn next(&self) -> Option<Option<Launch>> {
        let mut state = self.state.lock().expect("relay queue");
        let next = state.next.pop_front();
        state.idle = next.is_none();
        match next {
            Some(launch) => Some(Some(launch)),
            None if state.closed => Some(None),
            None => None,
        }
    }
}

impl Relay {
    /// The successor to start now that an instance succeeded: the next one
    /// given, waiting for the runner if none is yet; `None` once the queue
    /// is closed and empty, or the node starts nothing new.
    pub(super) async fn successor(&self) -> Option<Launch> {
        // Most of the time a successor is ready: no waiting is set up.
        if !self.gate.is_open() {
            return None;
        }
        if let Some(next) = self.queue.next() {
            return next;
        }
        loop {
            // Registered before looking again, so that a push or a change of
            // the gate in between is not missed.
            let pushed = self.queue.wake.notified();
            let changed = self.gate.changed.notified();
            tokio::pin!(pushed, changed);
            pushed.as_mut().enable();
            changed.as_mut().enable();
            if !self.gate.is_open() {
                return None;
            }
            if let Some(next) = self.queue.next() {
                return next;
            }
            tokio::select! {
                _ = pushed => {}
                _ = changed => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_closed_while_it_runs_is_not_idle_and_one_waiting_for_the_runner_is() {
        // A slot starts with its first instance running: closed then, it
        // still holds its room until that instance ends.
        let running = RelayQueue::default();
        let given = running.give_way();
        assert!(!given.idle && given.not_started.is_empty());
        assert!(
            matches!(running.next(), Some(None)),
            "closed and empty: it ends"
        );

        // A slot that asked for a successor and got none runs nothing; once
        // closed it never will.
        let waiting = RelayQueue::default();
        assert!(waiting.next().is_none(), "nothing decided yet");
        assert!(waiting.give_way().idle);
        assert!(matches!(waiting.next(), Some(None)));
    }
}

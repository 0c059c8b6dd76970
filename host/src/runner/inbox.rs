//! The runner's inbox: the one channel its loop waits on. Executors report
//! instance ends into it (the inbox is the executor's [`Reports`]), the API
//! sends commands, a cluster's notices wake it, and pulls and compiles
//! done on blocking threads come back through it.

use std::sync::mpsc::{Receiver, Sender};

use super::commands::Command;
use super::pulls::Pulled;
use crate::executor::{Finished, Reports, Waiting};

/// What the runner's loop receives.
pub enum Event {
    /// An instance run ended.
    Finished(Finished),
    /// An attempt waits for its references, or stopped waiting.
    Waiting(Waiting),
    /// Something a client asked for.
    Command(Command),
    /// Another node of the cluster offered, ended or stopped instances.
    ClusterChanged,
    /// A pull (or compile) for a Job waiting on this node ended (see `pulls`).
    Pulled(Box<Pulled>),
}

/// Where events are sent to the runner.
#[derive(Clone)]
pub struct Inbox(Sender<Event>);

impl Inbox {
    /// A new inbox and the loop's end of it.
    pub(super) fn new() -> (Inbox, Receiver<Event>) {
        let (sender, receiver) = std::sync::mpsc::channel();
        (Inbox(sender), receiver)
    }

    /// Sends an event; false once the runner has stopped.
    pub fn send(&self, event: Event) -> bool {
        self.0.send(event).is_ok()
    }

    /// Sends a command; false once the runner has stopped.
    pub fn command(&self, command: Command) -> bool {
        self.send(Event::Command(command))
    }
}

impl Reports for Inbox {
    fn finished(&self, done: Finished) {
        // The receiver only goes away when the runner is shutting down.
        let _ = self.0.send(Event::Finished(done));
    }

    fn waiting(&self, waiting: Waiting) {
        let _ = self.0.send(Event::Waiting(waiting));
    }
}

//! A Job's live instances: where each runs, and for those launched here in
//! a relaying executor slot, the slot's successors (see `relay`); and its
//! chains that run elsewhere, as far as this node knows them (see
//! `chains`).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use tokio::task::AbortHandle;

use crate::controller::job::chains::ChainState;
use crate::executor::{Relay, RelayQueue};
use crate::manifest::Phase;
use crate::runner::launcher::Launcher;
use crate::store::InstanceRecord;

/// Where a live instance of one of this node's Jobs is.
pub(in crate::runner) enum Place {
    /// Running on this node.
    Here(AbortHandle),
    /// Offered to the cluster and not claimed yet.
    Offered,
    /// Claimed by another node, which runs it.
    Elsewhere,
}

impl Place {
    /// Stops the run if it is on this node; elsewhere, the row tells.
    pub(in crate::runner) fn stop(&self) {
        if let Place::Here(abort) = self {
            abort.abort();
        }
    }

    /// Whether the instance runs on this node.
    pub(in crate::runner) fn is_here(&self) -> bool {
        matches!(self, Place::Here(_))
    }
}

/// An instance of a Job that has not ended.
pub(super) struct LiveInstance {
    pub record: InstanceRecord,
    pub attempt: u32,
    pub place: Place,
    /// Its executor slot, when the slot relays successors (see `relay`).
    pub slot: Option<Slot>,
    /// Its row is not written yet (see `JobRun::count_created`).
    pub unwritten: bool,
}

impl LiveInstance {
    /// Whether it holds room on this node: it runs here, in a slot that
    /// has not been released (see [`Slot::released`]).
    pub(in crate::runner) fn holds_room(&self) -> bool {
        self.place.is_here() && !self.slot.as_ref().is_some_and(|slot| slot.released)
    }
}

/// The relay of one executor slot: the successors the runner decided for
/// it, waiting for the executor, and their records in the same order.
#[derive(Default)]
pub(super) struct Slot {
    /// Where the successors wait for the executor, in order.
    pub next: Arc<RelayQueue>,
    /// The successors' records, in the same order, while reserved.
    pub successors: VecDeque<InstanceRecord>,
    /// The slot gives way to another namespace (see `share`): it takes no
    /// more successors and ends after those reserved.
    pub closing: bool,
    /// It was closed between two instances: it runs none now nor ever
    /// will, so it holds no room, though the ends of its last instances
    /// are still to be reported (see `RelayQueue::give_way`).
    pub released: bool,
}

impl Slot {
    /// What the executor needs to relay this slot's successors.
    pub(super) fn relay(&self, launcher: &Launcher) -> Relay {
        launcher.relay(&self.next)
    }

    /// Takes every reserved successor back; returns those the slot had
    /// already started (it is being stopped with them), to be recorded.
    pub(super) fn take_back(&mut self) -> Vec<InstanceRecord> {
        let not_started = self.next.take_back();
        let started = self.successors.len() - not_started.len();
        self.successors.drain(..).take(started).collect()
    }

    /// The slot gives way (see `share`): it takes no more successors,
    /// keeps the records of those the executor already started (each is
    /// reported with the end of the one before it) and is released when it
    /// runs nothing now. How many reserved successors lapse.
    pub(super) fn give_way(&mut self) -> usize {
        let given = self.next.give_way();
        self.closing = true;
        self.released = given.idle;
        let not_started = given.not_started.len();
        self.successors
            .truncate(self.successors.len() - not_started);
        not_started
    }
}

/// A chain of this Job's instances that runs elsewhere.
#[derive(Debug, Clone)]
pub(in crate::runner) struct Chain {
    /// Where it stands, from its latest link.
    pub state: ChainState,
    /// Its latest link.
    pub latest: String,
    /// The node that runs it (empty until it is claimed).
    pub node: String,
    /// The budgets of the links this node has followed or counted: a link
    /// whose row is read after a newer one's (the rows of one batch take
    /// their change numbers in any order) is still counted, once.
    pub seen: HashSet<u32>,
}

impl Chain {
    /// The chain as its link `row` (its latest) says it stands.
    pub(super) fn of(row: &InstanceRecord, budget: u32) -> Self {
        Chain {
            state: ChainState {
                budget,
                ended: row
                    .phase
                    .is_finished()
                    .then_some(row.phase == Phase::Succeeded),
                over: false,
            },
            latest: row.uid.clone(),
            node: row.node_name.clone(),
            seen: HashSet::from([budget]),
        }
    }

    /// Its latest link is now `row`, of `budget`.
    pub(super) fn moves_to(&mut self, row: &InstanceRecord, budget: u32) {
        self.state.budget = budget;
        self.state.ended = None;
        self.latest.clone_from(&row.uid);
        self.node.clone_from(&row.node_name);
    }
}

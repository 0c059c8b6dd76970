//! The owner's side of chains (see [`crate::controller::job::chains`]): a
//! Job spread over a cluster offers its instances as chains, each with a
//! budget; the node that claims one runs it and, on each success, the
//! chain's next instance, which the owner first hears of from its row. The
//! owner reads its Jobs' rows as they change (every write of a row takes
//! the next change number), counts each instance as any other, and moves
//! each chain's slot and reservations as its latest link moves.

use std::collections::HashSet;

use super::live::{LiveInstance, Place};
use super::run::JobRun;
use crate::controller::job::chains::{self, ChainState};
use crate::manifest::Phase;
use crate::runner::driver::Pass;
use crate::runner::writes::stop;
use crate::store::{InstanceRecord, Write};

/// A chain of this Job's instances that runs elsewhere.
#[derive(Debug, Clone)]
pub(in crate::runner) struct Chain {
    /// Where it stands, from its latest link.
    pub state: ChainState,
    /// Its latest link.
    pub latest: String,
    /// The node that runs it (empty until it is claimed).
    pub node: String,
}

impl Chain {
    /// The chain as its link `row` (its latest) says it stands.
    fn of(row: &InstanceRecord, budget: u32) -> Self {
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
        }
    }
}

impl JobRun {
    /// Whether new offered instances of this Job start chains.
    pub(super) fn chains(&self) -> bool {
        chains::chainable(&self.job.spec)
    }

    /// A new offered instance starts a chain: its budget, an even share of
    /// what is not covered among the `links` chains started now, is
    /// reserved but for the instance itself.
    pub(super) fn start_chain(&mut self, record: &mut InstanceRecord, links: u32) {
        let budget = chains::budget(&self.job.spec, &self.observed, links);
        record.chain = Some(crate::store::ChainLink {
            head: record.uid.clone(),
            budget,
        });
        let chain = Chain::of(record, budget);
        let (_, reserved) = chains::holds(&chain.state);
        self.observed.reserved += reserved;
        self.chains.insert(record.uid.clone(), chain);
    }

    /// The chains of a Job taken over (or resumed), rebuilt from its rows
    /// (those the new owner ended as lost included): each from its latest
    /// link, holding what that link says on top of the counts from the
    /// rows.
    pub(super) fn rebuild_chains(&mut self, instances: &[InstanceRecord]) {
        for row in instances {
            let Some(link) = &row.chain else {
                continue;
            };
            let newer = self
                .chains
                .get(&link.head)
                .is_none_or(|c| link.budget < c.state.budget);
            if newer {
                self.chains
                    .insert(link.head.clone(), Chain::of(row, link.budget));
            }
        }
        // Those over (failed, spent, or their latest link lost with its
        // node) have no link to come.
        self.chains.retain(|_, c| chains::holds(&c.state) != (0, 0));
        for chain in self.chains.values() {
            let (slots, reserved) = chains::holds(&chain.state);
            self.observed.active += slots;
            self.observed.reserved += reserved;
        }
    }

    /// The row of an instance this node does not follow yet: a newer link
    /// of one of its chains (followed from now on, counted if it ended), or
    /// a link of a chain it stopped (stopped too). Older links, and rows
    /// it counted already, change nothing.
    pub(super) fn follow_link(
        &mut self,
        row: InstanceRecord,
        lost: &HashSet<String>,
        pass: &mut Pass<'_>,
    ) {
        let Some(link) = row.chain.clone() else {
            return;
        };
        if self.stopped_chains.contains(&link.head) {
            if row.finish_time.is_none() {
                let mut stopped = row;
                let message = "stopped: its Job no longer runs this chain";
                stop(&mut stopped, pass.now, "Deleted", message);
                pass.writes.push(Write::Instance(stopped));
            }
            return;
        }
        let Some(chain) = self.chains.get_mut(&link.head) else {
            return;
        };
        if link.budget >= chain.state.budget {
            return;
        }
        let before = chain.state;
        *chain = Chain::of(&row, link.budget);
        // Counted as running until its row's end is counted below.
        chain.state.ended = None;
        let after = chain.state;
        chains::shift(&mut self.observed, &before, &after);
        self.observed.active += 1;
        let live = LiveInstance {
            attempt: row.restart_count,
            place: Place::Elsewhere,
            slot: None,
            unwritten: false,
            record: row.clone(),
        };
        self.live.insert(row.uid.clone(), live);
        self.follow_row(row, lost, pass);
    }

    /// A link of a chain ended (already counted as an instance): if it is
    /// the chain's latest, the chain's slot and reservations follow.
    pub(super) fn link_ended(&mut self, row: &InstanceRecord) {
        let Some(link) = &row.chain else {
            return;
        };
        let Some(chain) = self.chains.get_mut(&link.head) else {
            return;
        };
        if chain.latest != row.uid {
            return;
        }
        let before = chain.state;
        chain.state.ended = Some(row.phase == Phase::Succeeded);
        let after = chain.state;
        chains::shift(&mut self.observed, &before, &after);
        if chains::holds(&after) == (0, 0) {
            self.chains.remove(&link.head);
        }
    }

    /// Chains waiting for their next link on a node that was lost: over.
    pub(super) fn lose_waiting_chains(&mut self, lost: &HashSet<String>) {
        let gone: Vec<String> = (self.chains.iter())
            .filter(|(_, c)| c.state.ended.is_some() && lost.contains(&c.node))
            .map(|(head, _)| head.clone())
            .collect();
        for head in gone {
            self.end_chain(&head);
        }
    }

    /// The Job ends or is suspended: every chain is over, its reservations
    /// lapse, and a link of one that shows up later is stopped.
    pub(super) fn drop_chains(&mut self) {
        let heads: Vec<String> = self.chains.keys().cloned().collect();
        for head in heads {
            self.end_chain(&head);
        }
    }

    /// Chain `head` is over: what it held lapses, and a later link of it is
    /// stopped.
    fn end_chain(&mut self, head: &str) {
        let Some(chain) = self.chains.remove(head) else {
            return;
        };
        let over = ChainState {
            over: true,
            ..chain.state
        };
        chains::shift(&mut self.observed, &chain.state, &over);
        self.stopped_chains.insert(head.to_owned());
    }
}

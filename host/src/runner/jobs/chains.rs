//! The owner's side of chains (see [`crate::controller::job::chains`]): a
//! Job spread over a cluster offers its instances as chains, each with a
//! budget; the node that claims one runs it and, on each success, the
//! chain's next instance, which the owner first hears of from its row. The
//! owner reads its Jobs' rows as they change (every write of a row takes
//! the next change number), counts each instance as any other, and moves
//! each chain's slot and reservations as its latest link moves.

use std::collections::HashSet;

use super::live::{Chain, LiveInstance, Place};
use super::run::JobRun;
use crate::controller::job::chains;
use crate::manifest::Phase;
use crate::runner::driver::Pass;
use crate::runner::writes::stop;
use crate::store::{InstanceRecord, Write};

impl JobRun {
    /// Whether new offered instances of this Job start chains.
    pub(super) fn chains(&self) -> bool {
        chains::chainable(&self.job.spec)
    }

    /// The budget of each of `links` chains started now (see
    /// [`chains::budget`]).
    pub(super) fn chain_share(&self, links: u32) -> u32 {
        chains::budget(&self.job.spec, &self.observed, links)
    }

    /// A new offered instance starts a chain: its budget, `share` or what
    /// is still uncovered if less, is reserved but for the instance itself.
    pub(super) fn start_chain(&mut self, record: &mut InstanceRecord, share: u32) {
        let uncovered = chains::uncovered(&self.job.spec, &self.observed);
        let budget = share.min(uncovered).max(1);
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
            match self.chains.get_mut(&link.head) {
                Some(chain) => {
                    chain.seen.insert(link.budget);
                    if link.budget < chain.state.budget {
                        chain.moves_to(row, link.budget);
                        chain.state.ended = Chain::of(row, link.budget).state.ended;
                    }
                }
                None => {
                    let chain = Chain::of(row, link.budget);
                    self.chains.insert(link.head.clone(), chain);
                }
            }
        }
        for chain in self.chains.values() {
            let (slots, reserved) = chains::holds(&chain.state);
            self.observed.active += slots;
            self.observed.reserved += reserved;
        }
    }

    /// The row of an instance this node does not follow yet: a link of one
    /// of its chains read for the first time (followed from now on, counted
    /// if it ended; the chain moves if it is the newest), or a link of a
    /// chain it stopped (stopped too). Links it has counted change nothing.
    pub(super) fn follow_link(
        &mut self,
        row: InstanceRecord,
        lost: &HashSet<String>,
        pass: &mut Pass<'_>,
    ) {
        let Some(link) = row.chain.clone() else {
            return;
        };
        let Some(chain) = self.chains.get_mut(&link.head) else {
            return;
        };
        if !chain.seen.insert(link.budget) {
            return;
        }
        if self.stopped_chains.contains(&link.head) {
            // A link started before its node heard the chain was over.
            if row.finish_time.is_none() {
                let mut stopped = row;
                let message = "stopped: its Job no longer runs this chain";
                stop(&mut stopped, pass.now, "Deleted", message);
                pass.writes.push(Write::Instance(stopped));
            }
            return;
        }
        if link.budget < chain.state.budget {
            // Its newest link: counted as running until its row's end is
            // counted below.
            let before = chain.state;
            chain.moves_to(&row, link.budget);
            let after = chain.state;
            chains::shift(&mut self.observed, &before, &after);
        }
        // An older link read late is counted as an instance all the same.
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
    }

    /// Chains waiting for their next link on a node that was lost: over.
    pub(super) fn lose_waiting_chains(&mut self, lost: &HashSet<String>) {
        let gone: Vec<String> = (self.chains.iter())
            .filter(|(_, c)| chains::holds(&c.state).0 == 1 && lost.contains(&c.node))
            .map(|(head, _)| head.clone())
            .collect();
        for head in gone {
            self.end_chain(&head);
        }
    }

    /// The Job ends or is suspended: every chain is over, its reservations
    /// lapse, and a link of one that shows up later is stopped.
    pub(super) fn drop_chains(&mut self) {
        let heads: Vec<String> = (self.chains.iter())
            .filter(|(_, c)| !c.state.over)
            .map(|(head, _)| head.clone())
            .collect();
        for head in heads {
            self.end_chain(&head);
        }
    }

    /// Chain `head` is over: what it held lapses, and a later link of it is
    /// stopped. (It is kept: a link of it read late is still counted.)
    fn end_chain(&mut self, head: &str) {
        let Some(chain) = self.chains.get_mut(head) else {
            return;
        };
        let before = chain.state;
        chain.state.over = true;
        let after = chain.state;
        chains::shift(&mut self.observed, &before, &after);
        self.stopped_chains.insert(head.to_owned());
    }
}

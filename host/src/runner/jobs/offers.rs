//! The owner's side of a Job whose instances spread over a cluster: the
//! owner offers each instance as a `Pending` row, and follows the rows of
//! those offered or running elsewhere — claimed (now running on that node),
//! ended there (recorded and counted here, as any end), or lost with their
//! node (`NodeLost`, decided here). An instance this node claims for one of
//! its own Jobs runs as if it had been launched here.

use std::collections::HashSet;

use super::live::Place;
use super::run::JobRun;
use crate::controller::job::{self, is_disruption};
use crate::manifest::Phase;
use crate::runner::driver::Pass;
use crate::runner::writes::stop;
use crate::store::InstanceRecord;

impl JobRun {
    /// What the row of one of its watched instances says happened to it;
    /// `lost` names the nodes that stopped heartbeating.
    pub(super) fn follow_row(
        &mut self,
        row: InstanceRecord,
        lost: &HashSet<String>,
        pass: &mut Pass<'_>,
    ) {
        let Some(live) = self.live.get_mut(&row.uid) else {
            return;
        };
        // The row does not have this node's latest write yet (a restart
        // in place still staged): nothing to learn from it.
        if live.place.is_here() || row.restart_count != live.record.restart_count {
            return;
        }
        match row.phase {
            Phase::Pending | Phase::Running => {
                if row.phase == Phase::Running {
                    live.record.phase = Phase::Running;
                    live.record.start_time = row.start_time;
                    live.place = Place::Elsewhere;
                }
                live.record.node_name.clone_from(&row.node_name);
                if lost.contains(&row.node_name) {
                    self.lose(&row.uid, pass);
                }
            }
            Phase::Succeeded | Phase::Failed => self.ended_elsewhere(row, pass),
        }
    }

    /// Its instances running on nodes that were lost end as `NodeLost`.
    pub(super) fn lose_on(&mut self, lost: &HashSet<String>, pass: &mut Pass<'_>) {
        if lost.is_empty() {
            return;
        }
        let gone: Vec<String> = (self.live.values())
            .filter(|l| matches!(l.place, Place::Elsewhere) && lost.contains(&l.record.node_name))
            .map(|l| l.record.uid.clone())
            .collect();
        for uid in gone {
            self.lose(&uid, pass);
        }
    }

    /// An offered instance ended on the node that claimed it.
    fn ended_elsewhere(&mut self, row: InstanceRecord, pass: &mut Pass<'_>) {
        if row.chain.is_some() {
            return self.link_ended_elsewhere(row, pass);
        }
        let disruption = is_disruption(row.reason.as_deref().unwrap_or(""));
        let attempt = self.live[&row.uid].attempt;
        let (uid, succeeded) = (row.uid.clone(), row.phase == Phase::Succeeded);
        if !self.attempt_ended(row, (attempt, disruption), pass) {
            self.queue
                .settle(&uid, succeeded, pass.writes, pass.launcher);
        }
        self.count();
    }

    /// A link of a chain ended on the node that runs the chain: counted as
    /// any instance, its row left as that node wrote it (this node keeps a
    /// copy, see `cluster::hosting`), and the chain goes on or is over.
    fn link_ended_elsewhere(&mut self, row: InstanceRecord, pass: &mut Pass<'_>) {
        let disruption = is_disruption(row.reason.as_deref().unwrap_or(""));
        let attempt = self.live[&row.uid].attempt;
        // A chain's links never restart in place (see `chains::chainable`).
        self.count_attempt_end(&row, (attempt, disruption), &[], pass);
        self.live.remove(&row.uid);
        self.observed.instance_gone(row.completion_index);
        self.link_ended(&row);
        self.count();
    }

    /// An instance whose node was lost ends as `NodeLost`, decided here:
    /// the write is unconditional, so a late end from that node is overruled.
    fn lose(&mut self, uid: &str, pass: &mut Pass<'_>) {
        let live = &self.live[uid];
        let (mut ended, attempt) = (live.record.clone(), live.attempt);
        let message = format!(
            "node {} stopped sending heartbeats while the instance was running",
            ended.node_name
        );
        stop(&mut ended, pass.now, job::NODE_LOST, &message);
        tracing::info!(instance = %ended.name, node = %ended.node_name, "cluster: an instance's node was lost");
        let link = ended.clone();
        self.attempt_ended(ended, (attempt, true), pass);
        self.link_ended(&link);
        self.queue.settle(uid, false, pass.writes, pass.launcher);
        self.count();
    }

    /// Runs an instance of this Job that this node just claimed.
    pub(super) fn start_claimed(&mut self, record: InstanceRecord, pass: &Pass<'_>) {
        // An instance it no longer has was stopped meanwhile; the stop,
        // still staged, ends the row.
        if !self.live.contains_key(&record.uid) {
            return;
        }
        let attempt = record.restart_count;
        let abort = self.launch(&record, attempt, None, pass);
        let live = self.live.get_mut(&record.uid).expect("checked above");
        live.record = record;
        live.attempt = attempt;
        live.place = Place::Here(abort);
    }
}

//! The owner's side of a Job whose instances spread over a cluster: the
//! owner offers each instance as a `Pending` row, and follows the rows of
//! those offered or running elsewhere — claimed (now running on that node),
//! ended there (recorded and counted here, as any end), or lost with their
//! node (`NodeLost`, decided here). An instance this node claims for one of
//! its own Jobs runs as if it had been launched here.

use std::collections::HashSet;

use super::JobDriver;
use super::run::Place;
use crate::controller::job::{self, is_disruption};
use crate::manifest::Phase;
use crate::runner::driver::Pass;
use crate::runner::writes::stop;
use crate::store::InstanceRecord;

impl JobDriver {
    /// The instances of this node's Jobs that are offered or run elsewhere.
    pub(in crate::runner) fn watched(&self) -> Vec<String> {
        self.runs
            .iter()
            .flat_map(|j| j.live.iter())
            .filter(|(_, live)| !live.place.is_here())
            .map(|(uid, _)| uid.clone())
            .collect()
    }

    /// What the rows of watched instances say happened to them; `lost`
    /// names the nodes that stopped heartbeating.
    pub(in crate::runner) fn follow_rows(
        &mut self,
        rows: Vec<InstanceRecord>,
        lost: &HashSet<String>,
        pass: &mut Pass<'_>,
    ) {
        for row in rows {
            let Some(index) = self.index_of(&row.owner_uid) else {
                continue;
            };
            let Some(live) = self.runs[index].live.get_mut(&row.uid) else {
                continue;
            };
            // The row does not have this node's latest write yet (a restart
            // in place still staged): nothing to learn from it.
            if live.place.is_here() || row.restart_count != live.record.restart_count {
                continue;
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
                        self.lose(index, &row.uid, pass);
                    }
                }
                Phase::Succeeded | Phase::Failed => self.ended_elsewhere(index, row, pass),
            }
        }
    }

    /// An offered instance ended on the node that claimed it.
    fn ended_elsewhere(&mut self, index: usize, row: InstanceRecord, pass: &mut Pass<'_>) {
        let disruption = is_disruption(row.reason.as_deref().unwrap_or(""));
        let attempt = self.runs[index].live[&row.uid].attempt;
        let (uid, succeeded) = (row.uid.clone(), row.phase == Phase::Succeeded);
        if !self.attempt_ended(index, row, (attempt, disruption), pass) {
            let run = &mut self.runs[index];
            run.queue
                .settle(&uid, succeeded, pass.writes, pass.launcher);
        }
        self.count(index);
    }

    /// An instance whose node was lost ends as `NodeLost`, decided here:
    /// the write is unconditional, so a late end from that node is overruled.
    fn lose(&mut self, index: usize, uid: &str, pass: &mut Pass<'_>) {
        let live = &self.runs[index].live[uid];
        let (mut ended, attempt) = (live.record.clone(), live.attempt);
        let message = format!(
            "node {} stopped sending heartbeats while the instance was running",
            ended.node_name
        );
        stop(&mut ended, pass.now, job::NODE_LOST, &message);
        tracing::info!(instance = %ended.name, node = %ended.node_name, "cluster: an instance's node was lost");
        self.attempt_ended(index, ended, (attempt, true), pass);
        let run = &mut self.runs[index];
        run.queue.settle(uid, false, pass.writes, pass.launcher);
        self.count(index);
    }

    /// Runs an instance this node just claimed, if it is one of its own
    /// Jobs'; the record back when it is another node's.
    pub(in crate::runner) fn start_claimed(
        &mut self,
        record: InstanceRecord,
        pass: &Pass<'_>,
    ) -> Option<InstanceRecord> {
        let Some(index) = self.index_of(&record.owner_uid) else {
            return Some(record);
        };
        // An instance it no longer has was stopped meanwhile; the stop,
        // still staged, ends the row.
        if !self.runs[index].live.contains_key(&record.uid) {
            return None;
        }
        let attempt = record.restart_count;
        let abort = self.launch(index, &record, attempt, pass);
        let live = self.runs[index]
            .live
            .get_mut(&record.uid)
            .expect("checked above");
        live.record = record;
        live.attempt = attempt;
        live.place = Place::Here(abort);
        None
    }
}

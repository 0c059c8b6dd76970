//! This node's shares of its namespaces' quotas on instances (see
//! [`crate::access::quota_share`]): set at every cluster pass, and sooner
//! while instances wait for room beyond them — every [`ASK_AGAIN`], so a
//! Job applied into a namespace with room starts within a fraction of a
//! second, not a heartbeat. The shares are kept in the node's own file too:
//! a node that restarts while the database does not answer holds its
//! instances to what the other nodes still count as its. At each cluster
//! pass too, the output and the live Jobs the cluster's database holds for
//! each namespace with a `wasmjob.dev/logs` or `count/jobs.batch` quota.

use std::time::{Duration, Instant};

use super::Cluster;
use crate::manifest::Kind;
use crate::runner::parts::Parts;
use crate::store::StoreError;
use crate::time::Micros;

/// How soon a node asks again while instances wait for room beyond its
/// share.
const ASK_AGAIN: Duration = Duration::from_millis(250);

impl Cluster {
    /// Sets this node's shares from what its namespaces' instances hold
    /// and wait for.
    pub(super) fn share_quotas(&mut self, parts: &mut Parts) -> Result<(), StoreError> {
        self.shared_at = Instant::now();
        let asks = parts.quotas.asks(&parts.quota_held(true));
        // Nothing to ask for and nothing held in the database: no round trip.
        if !asks.is_empty() || self.shares_stored {
            let shares = self.control.share_quotas(&asks, self.config.grace)?;
            self.shares_stored = !shares.is_empty();
            if parts.quotas.took_shares(shares) {
                let shares = parts.quotas.shares().cloned().unwrap_or_default();
                parts.journal.store().keep_quota_shares(&shares)?;
            }
        }
        Ok(())
    }

    /// What the cluster's database holds of the output and the Jobs of
    /// each namespace whose quota counts them: read at each cluster pass.
    pub(super) fn count_for_quotas(&mut self, parts: &mut Parts) -> Result<(), StoreError> {
        for namespace in parts.quotas.logs_metered() {
            let bytes = self.control.log_bytes(&namespace)?;
            parts.quotas.cluster_stored(namespace, bytes);
        }
        for namespace in parts.quotas.jobs_metered() {
            let jobs = self.control.live_count(Kind::Job, &namespace)?;
            parts.quotas.cluster_jobs(namespace, jobs);
        }
        Ok(())
    }

    /// Between cluster passes: asks again if instances waited for room
    /// beyond this node's shares and the last ask is old enough (the loop
    /// comes back in time through [`Cluster::share_wake`]).
    pub(super) fn share_when_waiting(&mut self, parts: &mut Parts) {
        if !parts.quotas.waiting_for_share() || !self.link.is_up() {
            return;
        }
        if self.shared_at.elapsed() >= ASK_AGAIN
            && let Err(e) = self.share_quotas(parts)
        {
            // The next cluster pass says what the database does.
            tracing::debug!("cluster: quota shares: {e}");
        }
    }

    /// When to ask again, while instances wait for room beyond this
    /// node's shares and the database answers.
    pub(in crate::runner) fn share_wake(&self, parts: &Parts, now: Micros) -> Option<Micros> {
        if !parts.quotas.waiting_for_share() || !self.link.is_up() {
            return None;
        }
        let left = ASK_AGAIN.saturating_sub(self.shared_at.elapsed());
        Some(now + left.as_micros() as Micros)
    }
}

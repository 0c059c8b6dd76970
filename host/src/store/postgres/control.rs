//! The cluster database as the control plane its nodes share (see
//! [`crate::store::ControlPlane`]): each call is one of this module's
//! queries (`nodes`, `offers`, `daemons`, `changes`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::Pg;
use crate::manifest::Kind;
use crate::store::backend::Records;
use crate::store::{
    Approval, Claimable, Claimed, ControlPlane, Heartbeat, InstanceRecord, Listening, NodeRecord,
    Noticed, ObjectRecord, Offered, Ownership, StoreError, Write,
};
use crate::time::Micros;

impl ControlPlane for Pg {
    fn describe(&self) -> String {
        Pg::describe(self)
    }

    fn register_node(
        &self,
        labels: &BTreeMap<String, String>,
        capacity: u32,
        address: &str,
    ) -> Result<(), StoreError> {
        Pg::register_node(self, labels, capacity, address)
    }

    fn cluster_setting(&self, key: &str, mine: &str) -> Result<String, StoreError> {
        Pg::cluster_setting(self, key, mine)
    }

    fn heartbeat(&self) -> Result<Heartbeat, StoreError> {
        Pg::heartbeat(self)
    }

    fn nodes(&self, grace: Duration) -> Result<Vec<NodeRecord>, StoreError> {
        Pg::nodes(self, grace)
    }

    fn set_node_labels(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<bool, StoreError> {
        Pg::set_node_labels(self, name, labels)
    }

    fn set_node_resources(&self, resources: &BTreeMap<String, i64>) -> Result<(), StoreError> {
        Pg::set_node_resources(self, resources)
    }

    fn set_node_taints(
        &self,
        name: &str,
        taints: &[crate::manifest::Taint],
    ) -> Result<bool, StoreError> {
        Pg::set_node_taints(self, name, taints)
    }

    fn claimable(&self, grace: Duration) -> Result<Vec<Claimable>, StoreError> {
        Pg::claimable(self, grace)
    }

    fn claim(
        &self,
        uid: &str,
        previous: Option<&str>,
        grace: Duration,
    ) -> Result<Option<Claimed>, StoreError> {
        Pg::claim(self, uid, previous, grace)
    }

    fn revive(&self, uids: &[String]) -> Result<u64, StoreError> {
        Pg::revive(self, uids)
    }

    fn object(&self, uid: &str) -> Result<Option<ObjectRecord>, StoreError> {
        Records::object(self, uid)
    }

    fn live_objects(&self, kind: Kind) -> Result<Vec<ObjectRecord>, StoreError> {
        Records::live_objects(self, kind, None)
    }

    fn live_object(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        Records::live_object(self, kind, namespace, name)
    }

    fn instances_of(&self, owner_uid: &str) -> Result<Vec<InstanceRecord>, StoreError> {
        Records::instances_of(self, owner_uid)
    }

    fn cron_runs(&self, cronjob_uid: &str) -> Result<Vec<(Micros, Option<String>)>, StoreError> {
        Records::cron_runs(self, cronjob_uid)
    }

    fn module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Records::module(self, digest)
    }

    fn publish(&self, writes: &[Write]) -> Result<(), StoreError> {
        Pg::commit(self, writes)
    }

    fn release(&self, uid: &str) -> Result<(), StoreError> {
        Pg::release(self, uid)
    }

    fn ownership(&self, uids: &[String]) -> Result<Vec<Ownership>, StoreError> {
        Pg::ownership(self, uids)
    }

    fn offered(&self) -> Result<Vec<Offered>, StoreError> {
        Pg::offered(self)
    }

    fn claim_offered(
        &self,
        owners: &[String],
        limit: u32,
        now: Micros,
    ) -> Result<Vec<InstanceRecord>, StoreError> {
        Pg::claim_offered(self, owners, limit, now)
    }

    fn instance_input(&self, uid: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Pg::instance_input(self, uid)
    }

    fn instance_states(&self, uids: &[String]) -> Result<Vec<InstanceRecord>, StoreError> {
        Pg::instance_states(self, uids)
    }

    fn instance_changes(
        &self,
        owners: &[String],
        since: i64,
        limit: i64,
    ) -> Result<Vec<(i64, InstanceRecord)>, StoreError> {
        Pg::instance_changes(self, owners, since, limit)
    }

    fn end_orphaned(&self, now: Micros, reason: &str, message: &str) -> Result<u64, StoreError> {
        Pg::end_orphaned(self, now, reason, message)
    }

    fn rolling_step(
        &self,
        daemonset_uid: &str,
        grace: Duration,
        approve: Approval<'_>,
        writes: &[Write],
    ) -> Result<bool, StoreError> {
        Pg::rolling_step(self, daemonset_uid, grace, approve, writes)
    }

    fn drop_lost_daemons(&self, grace: Duration, now: Micros) -> Result<u64, StoreError> {
        Pg::drop_lost_daemons(self, grace, now)
    }

    fn share_quotas(
        &self,
        asks: &[crate::access::quota_share::Ask],
        grace: Duration,
    ) -> Result<Vec<(String, crate::access::quota_share::Share)>, StoreError> {
        Pg::share_quotas(self, asks, grace)
    }

    fn log_bytes(&self, namespace: &str) -> Result<u64, StoreError> {
        Records::log_bytes(self, namespace)
    }

    fn live_count(&self, kind: Kind, namespace: &str) -> Result<u64, StoreError> {
        Pg::live_count(self, kind, namespace)
    }

    fn listen(&self, noticed: Arc<Noticed>, wake: Box<dyn Fn() -> bool + Send>) -> Listening {
        Listening {
            _guard: Box::new(Pg::listen(self, noticed, wake)),
        }
    }
}

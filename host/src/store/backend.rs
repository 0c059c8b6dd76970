//! What a backend of the store answers: the records, read, whatever keeps
//! them. The SQLite file and the cluster's PostgreSQL database both
//! implement [`Records`]; [`super::Store`] hands its callers the one that
//! holds the records, so they never learn which it is.

use super::{EventRecord, InstanceRecord, InstanceScope, ObjectRecord, ObjectText, StoreError};
use crate::manifest::Kind;
use crate::runtime::LogRecord;
use crate::runtime::line_times::LineTimes;
use crate::time::Micros;

/// The records of a store, as each backend reads them.
pub(super) trait Records {
    /// Stores module bytes under their digest (idempotent).
    fn put_module(
        &self,
        digest: &str,
        component: bool,
        bytes: &[u8],
        now: Micros,
    ) -> Result<(), StoreError>;

    /// The bytes of a stored module.
    fn module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The live object of this kind and name, if any.
    fn live_object(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRecord>, StoreError>;

    /// Every live object of a kind, in one namespace or all, oldest first.
    fn live_objects(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectRecord>, StoreError>;

    /// As `live_objects`, manifests and statuses as the JSON text stored.
    fn live_objects_text(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectText>, StoreError>;

    /// The instances of live objects that may match `scope`, oldest first.
    fn live_instances_in(
        &self,
        namespace: Option<&str>,
        scope: InstanceScope<'_>,
    ) -> Result<Vec<InstanceRecord>, StoreError>;

    /// Events of live objects in a namespace (or all), oldest first.
    fn live_events(&self, namespace: Option<&str>) -> Result<Vec<EventRecord>, StoreError>;

    /// The bytes of output stored for the instances of a namespace's live
    /// objects, every attempt's.
    fn log_bytes(&self, namespace: &str) -> Result<u64, StoreError>;

    /// An object by uid, live or deleted.
    fn object(&self, uid: &str) -> Result<Option<ObjectRecord>, StoreError>;

    /// Every instance an object owns, oldest first.
    fn instances_of(&self, owner_uid: &str) -> Result<Vec<InstanceRecord>, StoreError>;

    /// How many of the instances an object owns have not ended, counted
    /// without reading them (its history may be long).
    fn unfinished_instances_of(&self, owner_uid: &str) -> Result<u64, StoreError>;

    /// Every attempt's log of an instance, oldest first.
    fn logs(&self, instance_uid: &str) -> Result<Vec<(u32, Vec<u8>)>, StoreError>;

    /// Every attempt's log of an instance and when each of its lines
    /// began, oldest first (an attempt kept before times were has none).
    fn logs_timed(&self, instance_uid: &str) -> Result<Vec<(u32, Vec<u8>, LineTimes)>, StoreError>;

    /// An instance's structured log records, by attempt then order.
    fn log_records(&self, instance_uid: &str) -> Result<Vec<(u32, LogRecord)>, StoreError>;

    /// A CronJob's decided times, oldest first.
    fn cron_runs(&self, cronjob_uid: &str) -> Result<Vec<(Micros, Option<String>)>, StoreError>;

    /// Deletes every live object whose `ttlSecondsAfterFinished` ran out
    /// by `now`; how many. The rows stay as history.
    fn delete_expired(&self, now: Micros) -> Result<usize, StoreError>;
}

//! Nodes and who runs what: registration, the cluster's API token, labels,
//! and the owner of each Job and CronJob as other nodes follow it (leases,
//! heartbeats and take-overs are `leases`').

use std::collections::BTreeMap;

use postgres::Row;

use super::{DB_NOW, Param, Pg, StoreError, json_column, json_text};
use crate::manifest::Taint;
use crate::store::{NodeRecord, Ownership};

/// Every node, with whether its heartbeat is within the grace period `$1`.
pub(super) fn nodes_query() -> String {
    format!(
        "SELECT name, labels, capacity, version, address, joined_at, heartbeat_at,
            heartbeat_at >= {DB_NOW} - $1, taints, resources FROM nodes ORDER BY name"
    )
}

/// A row of [`nodes_query`].
pub(super) fn node_row(row: &Row) -> NodeRecord {
    NodeRecord {
        name: row.get(0),
        labels: json_column(row, 1),
        capacity: row.get::<_, i64>(2) as u32,
        version: row.get(3),
        address: row.get(4),
        joined_at: row.get(5),
        heartbeat_at: row.get(6),
        ready: row.get(7),
        taints: json_column(row, 8),
        resources: json_column(row, 9),
    }
}

impl Pg {
    /// Registers this node (or registers it again after a restart) with a
    /// fresh heartbeat.
    pub fn register_node(
        &self,
        labels: &BTreeMap<String, String>,
        capacity: u32,
        address: &str,
    ) -> Result<(), StoreError> {
        let node = self.node.clone();
        let labels = json_text(labels);
        let version = env!("CARGO_PKG_VERSION");
        let capacity = i64::from(capacity);
        self.with(|c| {
            c.execute(
                &format!(
                    "INSERT INTO nodes (name, labels, capacity, version, address, joined_at, heartbeat_at)
                     VALUES ($1, $2, $3, $4, $5, {DB_NOW}, {DB_NOW})
                     ON CONFLICT (name) DO UPDATE SET labels = excluded.labels,
                        capacity = excluded.capacity, version = excluded.version,
                        address = excluded.address, heartbeat_at = excluded.heartbeat_at"
                ),
                &[&node as &Param<'_>, &labels, &capacity, &version, &address],
            )
            .map(drop)
        })
    }

    /// A cluster-wide setting (`token`, the API token; `secret-key`, the
    /// key Secrets are sealed with): the value stored by the first node to
    /// join, which is `mine` when this node is the first. Every node takes
    /// it, so a client's token works with any node and every node reads
    /// every Secret.
    pub fn cluster_setting(&self, key: &str, mine: &str) -> Result<String, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&key, &mine],
            )?;
            Ok(
                c.query_one("SELECT value FROM settings WHERE key = $1", &[&key])?
                    .get(0),
            )
        })
    }

    /// Every node, by name; `ready` when its last heartbeat is within `grace`.
    pub fn nodes(&self, grace: std::time::Duration) -> Result<Vec<NodeRecord>, StoreError> {
        let grace = grace.as_micros() as i64;
        self.with(|c| {
            let rows = c.query(&nodes_query(), &[&grace])?;
            Ok(rows.iter().map(node_row).collect())
        })
    }

    /// Sets a node's labels; `false` if there is no such node.
    pub fn set_node_labels(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<bool, StoreError> {
        let labels = json_text(labels);
        self.with(|c| {
            c.execute(
                "UPDATE nodes SET labels = $2 WHERE name = $1",
                &[&name as &Param<'_>, &labels],
            )
            .map(|n| n == 1)
        })
    }

    /// Sets a node's taints; `false` if there is no such node.
    pub fn set_node_taints(&self, name: &str, taints: &[Taint]) -> Result<bool, StoreError> {
        let taints = json_text(&taints);
        self.with(|c| {
            c.execute(
                "UPDATE nodes SET taints = $2 WHERE name = $1",
                &[&name as &Param<'_>, &taints],
            )
            .map(|n| n == 1)
        })
    }

    /// Sets the extended resources this node advertises.
    pub fn set_node_resources(&self, resources: &BTreeMap<String, i64>) -> Result<(), StoreError> {
        let node = self.node.clone();
        let resources = json_text(resources);
        self.with(|c| {
            c.execute(
                "UPDATE nodes SET resources = $2 WHERE name = $1",
                &[&node as &Param<'_>, &resources],
            )
            .map(drop)
        })
    }

    /// Gives up `uid` (this node cannot run it) so a node that can takes it.
    pub fn release(&self, uid: &str) -> Result<(), StoreError> {
        let me = self.node.clone();
        self.with(|c| {
            c.execute(
                "UPDATE objects SET owner_node = NULL WHERE uid = $1 AND owner_node = $2",
                &[&uid as &Param<'_>, &me],
            )
            .map(drop)
        })
    }

    /// The current generation, deletion and owner of the given objects.
    pub fn ownership(&self, uids: &[String]) -> Result<Vec<Ownership>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT uid, generation, deleted_at IS NOT NULL, owner_node FROM objects
                 WHERE uid = ANY($1)",
                &[&uids],
            )?;
            Ok(rows
                .iter()
                .map(|r| Ownership {
                    uid: r.get(0),
                    generation: r.get(1),
                    deleted: r.get(2),
                    owner: r.get(3),
                })
                .collect())
        })
    }
}

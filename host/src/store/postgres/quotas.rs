//! Each node's share of its namespaces' instance quotas (see
//! [`crate::access::quota_share`]): set under the namespace's advisory
//! lock, so two nodes setting theirs at once see each other's, and the
//! shares of the Ready nodes never sum past the quota. With them, what
//! the cluster holds of a namespace's output and objects, for the quotas
//! a node counts from the cluster's database.

use std::time::Duration;

use super::{DB_NOW, Param, Pg, StoreError};
use crate::access::quota_share::{self, Amount, Ask, Share};
use crate::manifest::Kind;

/// The advisory lock class of a namespace's quota shares (`wjqu` in
/// ASCII); the namespace's hash is the other key.
const QUOTA_LOCK: i32 = 0x776a_7175;

impl Pg {
    /// Sets this node's share of each namespace in `asks` (see
    /// [`quota_share::share`]) from the shares of the other nodes whose
    /// heartbeat is within `grace`, and forgets its shares of namespaces
    /// it no longer asks for. One transaction.
    pub fn share_quotas(
        &self,
        asks: &[Ask],
        grace: Duration,
    ) -> Result<Vec<(String, Share)>, StoreError> {
        let me = self.node.clone();
        let grace = grace.as_micros() as i64;
        let mut asks: Vec<&Ask> = asks.iter().collect();
        // Locks in one order: two nodes asking for the same namespaces
        // never wait for each other in a circle.
        asks.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        self.with(|c| {
            let mut tx = c.transaction()?;
            for ask in &asks {
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                    &[&QUOTA_LOCK, &ask.namespace],
                )?;
            }
            let namespaces: Vec<String> = asks.iter().map(|a| a.namespace.clone()).collect();
            let rows = tx.query(
                &format!(
                    "SELECT s.namespace, sum(s.pods)::bigint, sum(s.memory)::bigint
                     FROM quota_shares s JOIN nodes n ON n.name = s.node
                     WHERE s.namespace = ANY($1) AND s.node <> $2
                       AND n.heartbeat_at >= {DB_NOW} - $3
                     GROUP BY s.namespace"
                ),
                &[&namespaces as &Param<'_>, &me, &grace],
            )?;
            let elsewhere = |namespace: &str| {
                (rows.iter())
                    .find(|r| r.get::<_, String>(0) == namespace)
                    .map(|r| Amount {
                        pods: r.get(1),
                        memory: r.get(2),
                    })
                    .unwrap_or_default()
            };
            let mut shares = Vec::with_capacity(asks.len());
            for ask in &asks {
                let share = quota_share::share(ask, elsewhere(&ask.namespace));
                tx.execute(
                    "INSERT INTO quota_shares (namespace, node, pods, memory)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (namespace, node)
                     DO UPDATE SET pods = excluded.pods, memory = excluded.memory",
                    &[
                        &ask.namespace as &Param<'_>,
                        &me,
                        &share.mine.pods,
                        &share.mine.memory,
                    ],
                )?;
                shares.push((ask.namespace.clone(), share));
            }
            tx.execute(
                "DELETE FROM quota_shares WHERE node = $1 AND NOT (namespace = ANY($2))",
                &[&me as &Param<'_>, &namespaces],
            )?;
            tx.commit()?;
            Ok(shares)
        })
    }

    /// How many live objects of `kind` a namespace has in the cluster
    /// (what `count/…` quotas count).
    pub fn live_count(&self, kind: Kind, namespace: &str) -> Result<u64, StoreError> {
        let kind = kind.as_str();
        self.with(|c| {
            let row = c.query_one(
                "SELECT count(*) FROM objects
                 WHERE kind = $1 AND namespace = $2 AND deleted_at IS NULL",
                &[&kind, &namespace],
            )?;
            Ok(row.get::<_, i64>(0).max(0) as u64)
        })
    }
}

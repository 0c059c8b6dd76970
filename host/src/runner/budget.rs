//! What a node has room for at one pass: instances it may still start
//! (`serve --max-instances`, less what runs) and the extended resources it
//! advertises (`serve --resources`), less what running instances hold. The
//! Job driver asks it before starting instances here, Jobs of higher
//! priority first (`priorityClassName`), so when the node is full the
//! waiting instances start in priority order as room comes free. A
//! namespace's ResourceQuota on instances at once (`pods`) or on their
//! memory limits summed (`limits.memory`) is room too, counted on this
//! node: an instance past it waits, with Kubernetes' `exceeded quota`. So
//! is its quota of stored output (`wasmjob.dev/logs`): once the
//! namespace's instances have stored that much, no more start. A
//! DaemonSet's instance is held by its namespace's quotas alone. In a
//! cluster a namespace's instances are held by this node's share of its
//! quotas (see [`crate::access::quota_share`]), and what they wait for
//! beyond it is noted, for the node to ask for at its next share.

use std::collections::BTreeMap;

use crate::access::quota_share::{Amount, Share};

/// A ResourceQuota's name for the output a namespace's instances store.
pub(in crate::runner) const LOGS: &str = crate::access::quota::LOG_BYTES;

/// A node's room at one pass.
#[derive(Debug, Clone, Default)]
pub(super) struct Budget {
    /// Instances that may still start; unlimited when `None`.
    slots: Option<usize>,
    /// Each advertised extended resource: what is free.
    free: BTreeMap<String, i64>,
    /// Each advertised extended resource: the node's total.
    total: BTreeMap<String, i64>,
    /// Each namespace with a quota on its instances: what is left.
    namespaces: BTreeMap<String, Room>,
}

/// A namespace's quotas on instances at once and their memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(in crate::runner) struct InstanceQuota {
    /// `pods`: the quota's name and its limit.
    pub pods: Option<(String, i64)>,
    /// `limits.memory` in bytes: the quota's name and its limit.
    pub memory: Option<(String, i64)>,
    /// `wasmjob.dev/logs` in bytes: the quota's name and its limit, and
    /// the bytes the namespace's instances have stored.
    pub logs: Option<(String, i64, i64)>,
}

/// What a namespace may still start: its quota, and what its running
/// instances here hold of it.
#[derive(Debug, Clone, Default)]
struct Room {
    quota: InstanceQuota,
    pods: i64,
    memory: i64,
    /// In a cluster: this node's share of the quota, and the other nodes'.
    share: Option<Share>,
    /// What was refused at this pass for want of room under the quota.
    waiting: Amount,
}

/// Why an instance does not start under its namespace's quotas.
struct Refusal {
    /// Kubernetes' words.
    why: String,
    /// Room coming free would start it (not so for a template without a
    /// memory limit, or output already stored past its quota).
    waits: bool,
}

impl Budget {
    /// A node that may run `capacity` instances at once and advertises
    /// `resources`, with `running` instances holding `held`.
    pub(super) fn new(
        capacity: Option<usize>,
        resources: &BTreeMap<String, i64>,
        running: usize,
        held: &BTreeMap<String, i64>,
    ) -> Budget {
        let free = resources
            .iter()
            .map(|(name, total)| (name.clone(), total - held.get(name).copied().unwrap_or(0)))
            .collect();
        Budget {
            slots: capacity.map(|c| c.saturating_sub(running)),
            free,
            total: resources.clone(),
            namespaces: BTreeMap::new(),
        }
    }

    /// The namespaces' `quotas`, with `held` — each namespace's instances
    /// running here and their memory limits summed. In a cluster, `shares`
    /// is this node's share of each (a namespace without one yet starts
    /// nothing until the node has asked).
    pub(super) fn with_quotas(
        mut self,
        quotas: &BTreeMap<String, InstanceQuota>,
        held: &BTreeMap<String, (i64, i64)>,
        shares: Option<&BTreeMap<String, Share>>,
    ) -> Budget {
        for (namespace, quota) in quotas {
            let (pods, memory) = held.get(namespace).copied().unwrap_or((0, 0));
            let share = shares.map(|s| s.get(namespace).copied().unwrap_or_default());
            let room = Room {
                quota: quota.clone(),
                pods,
                memory,
                share,
                waiting: Amount::default(),
            };
            self.namespaces.insert(namespace.clone(), room);
        }
        self
    }

    /// What each namespace's instances waited for at this pass beyond the
    /// room its quotas left (none: absent).
    pub(super) fn waiting(&self) -> BTreeMap<String, Amount> {
        (self.namespaces.iter())
            .filter(|(_, room)| room.waiting.pods > 0)
            .map(|(namespace, room)| (namespace.clone(), room.waiting))
            .collect()
    }

    /// How many of `wanted` instances of `namespace`, each taking `demand`
    /// and `memory` bytes of memory limit (none named: `None`), start now;
    /// what they take is taken. When the namespace's quota stopped some,
    /// Kubernetes' words for why.
    pub(super) fn take_in(
        &mut self,
        (namespace, memory): (&str, Option<i64>),
        demand: &BTreeMap<String, i64>,
        wanted: usize,
    ) -> (usize, Option<String>) {
        let Some(room) = self.namespaces.get(namespace).cloned() else {
            return (self.take(demand, wanted), None);
        };
        let mut room = room;
        let mut taken = 0;
        let mut why = None;
        while taken < wanted {
            if let Some(refusal) = room.refusal(memory) {
                if refusal.waits {
                    let left = (wanted - taken) as i64;
                    room.waiting = room.waiting + Amount::of(left, memory.unwrap_or(0));
                }
                why = Some(refusal.why);
                break;
            }
            if self.take(demand, 1) == 0 {
                break;
            }
            room.pods += 1;
            room.memory += memory.unwrap_or(0);
            taken += 1;
        }
        self.namespaces.insert(namespace.to_owned(), room);
        (taken, why)
    }

    /// How many of `wanted` instances of `namespace`, each taking `memory`
    /// bytes of memory limit, its quotas alone let start now — instances
    /// offered to a cluster, which take the room of whichever node claims
    /// them but are counted under their Job's owner's share; what they
    /// take is taken. When the quota stopped some, Kubernetes' words.
    pub(super) fn take_quota_for(
        &mut self,
        (namespace, memory): (&str, Option<i64>),
        wanted: usize,
    ) -> (usize, Option<String>) {
        for taken in 0..wanted {
            if let Err(why) = self.take_quota_waiting(namespace, memory, wanted - taken) {
                return (taken, Some(why));
            }
        }
        (wanted, None)
    }

    /// Takes room under `namespace`'s quotas alone for one instance taking
    /// `memory` bytes of memory limit — a DaemonSet's, which the node's own
    /// capacity does not hold back (it runs one per node, as Kubernetes
    /// schedules a DaemonSet's pod past a full node's pod count) — or says
    /// in Kubernetes' words which quota it would pass.
    pub(super) fn take_quota(
        &mut self,
        namespace: &str,
        memory: Option<i64>,
    ) -> Result<(), String> {
        self.take_quota_waiting(namespace, memory, 1)
    }

    /// [`Budget::take_quota`], for the first of `left` instances: when it
    /// is refused, all of them wait.
    fn take_quota_waiting(
        &mut self,
        namespace: &str,
        memory: Option<i64>,
        left: usize,
    ) -> Result<(), String> {
        let Some(room) = self.namespaces.get_mut(namespace) else {
            return Ok(());
        };
        if let Some(refusal) = room.refusal(memory) {
            if refusal.waits {
                room.waiting = room.waiting + Amount::of(left as i64, memory.unwrap_or(0));
            }
            return Err(refusal.why);
        }
        room.pods += 1;
        room.memory += memory.unwrap_or(0);
        Ok(())
    }

    /// Whether `namespace` has a quota of stored output.
    pub(super) fn meters_logs(&self, namespace: &str) -> bool {
        (self.namespaces.get(namespace)).is_some_and(|room| room.quota.logs.is_some())
    }

    /// Whether the node's room is limited at all (a capacity or extended
    /// resources).
    pub(super) fn limited(&self) -> bool {
        self.slots.is_some() || !self.total.is_empty() || !self.namespaces.is_empty()
    }

    /// How many of `wanted` instances, each taking `demand`, start now;
    /// what they take is taken.
    pub(super) fn take(&mut self, demand: &BTreeMap<String, i64>, wanted: usize) -> usize {
        let mut taken = 0;
        while taken < wanted && self.fits(demand) {
            if let Some(slots) = &mut self.slots {
                *slots -= 1;
            }
            for (name, count) in demand {
                *self.free.entry(name.clone()).or_default() -= count;
            }
            taken += 1;
        }
        taken
    }

    fn fits(&self, demand: &BTreeMap<String, i64>) -> bool {
        self.slots.is_none_or(|s| s > 0)
            && demand
                .iter()
                .all(|(name, count)| self.free.get(name).copied().unwrap_or(0) >= *count)
    }

    /// The first resource of `demand` this node could never give one
    /// instance, however much came free: Kubernetes' `Insufficient NAME`.
    pub(super) fn never_fits<'a>(&self, demand: &'a BTreeMap<String, i64>) -> Option<&'a str> {
        demand
            .iter()
            .find(|(name, count)| self.total.get(*name).copied().unwrap_or(0) < **count)
            .map(|(name, _)| name.as_str())
    }
}

impl Room {
    /// Why one more instance taking `memory` would pass the quota, in
    /// Kubernetes' words (`exceeded quota: NAME, requested: pods=1, …`).
    /// In a cluster what is used counts the other nodes' shares, and this
    /// node's share bounds it too.
    fn refusal(&self, memory: Option<i64>) -> Option<Refusal> {
        let elsewhere = self.share.map(|s| s.elsewhere).unwrap_or_default();
        let mine = self.share.map(|s| s.mine);
        let waits = |why: String| Some(Refusal { why, waits: true });
        if let Some((name, hard)) = &self.quota.pods {
            let used = self.pods + elsewhere.pods;
            let sentence = format!(
                "exceeded quota: {name}, requested: pods=1, used: pods={used}, limited: pods={hard}"
            );
            if used + 1 > *hard {
                return waits(sentence);
            }
            if let Some(mine) = mine
                && self.pods + 1 > mine.pods
            {
                return waits(format!("{sentence}{}", share_note(mine.pods.to_string())));
            }
        }
        if let Some((name, hard, stored)) = &self.quota.logs
            && stored >= hard
        {
            // How much an instance will print is not known before it runs:
            // the quota holds once what is stored reaches it.
            let q = |b: i64| crate::access::quota::bytes_quantity(b.max(0) as u64);
            let why = format!(
                "exceeded quota: {name}, requested: {LOGS}>0, used: {LOGS}={}, limited: {LOGS}={}",
                q(*stored),
                q(*hard)
            );
            return Some(Refusal { why, waits: false });
        }
        if let Some((name, hard)) = &self.quota.memory {
            let Some(memory) = memory else {
                let why = format!(
                    "failed quota: {name}: must specify limits.memory for: the template's \
                     containers (set resources.limits.memory, or a LimitRange default)"
                );
                return Some(Refusal { why, waits: false });
            };
            let q = |b: i64| crate::manifest::memory_quantity(b.max(0) as u64);
            let used = self.memory + elsewhere.memory;
            let sentence = format!(
                "exceeded quota: {name}, requested: limits.memory={}, used: \
                 limits.memory={}, limited: limits.memory={}",
                q(memory),
                q(used),
                q(*hard)
            );
            if used + memory > *hard {
                return waits(sentence);
            }
            if let Some(mine) = mine
                && self.memory + memory > mine.memory
            {
                return waits(format!("{sentence}{}", share_note(q(mine.memory))));
            }
        }
        None
    }
}

/// What a refusal adds when the quota has room but this node's share of
/// it has none.
fn share_note(share: String) -> String {
    format!(
        " (this node's share of the cluster's quota is {share}; it asks the cluster for more \
         while instances wait)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpus(n: i64) -> BTreeMap<String, i64> {
        [("nvidia.com/gpu".to_owned(), n)].into()
    }

    #[test]
    fn room_is_the_capacity_less_what_runs_and_each_start_takes_its_share() {
        let mut budget = Budget::new(Some(4), &gpus(2), 1, &gpus(1));
        assert_eq!(budget.take(&BTreeMap::new(), 5), 3);
        let mut budget = Budget::new(Some(4), &gpus(2), 1, &gpus(1));
        // One GPU is free: one instance asking for one starts.
        assert_eq!(budget.take(&gpus(1), 3), 1);
        assert_eq!(budget.take(&BTreeMap::new(), 3), 2);
        let mut unlimited = Budget::new(None, &BTreeMap::new(), 100, &BTreeMap::new());
        assert_eq!(unlimited.take(&BTreeMap::new(), 1000), 1000);
        assert_eq!(unlimited.take(&gpus(1), 1), 0);
    }

    #[test]
    fn a_namespace_quota_holds_its_instances_and_their_memory() {
        let quota = InstanceQuota {
            pods: Some(("q".into(), 3)),
            memory: Some(("m".into(), 100 << 20)),
            logs: None,
        };
        let quotas = BTreeMap::from([("team".to_owned(), quota)]);
        let held = BTreeMap::from([("team".to_owned(), (1, 10 << 20))]);
        let none = BTreeMap::new();
        let mut budget =
            Budget::new(Some(10), &BTreeMap::new(), 1, &none).with_quotas(&quotas, &held, None);
        // Two more fit under pods=3; the rest are held, and said why.
        let (two, why) = budget.take_in(("team", Some(1 << 20)), &none, 5);
        assert_eq!(two, 2);
        assert_eq!(
            why.as_deref(),
            Some("exceeded quota: q, requested: pods=1, used: pods=3, limited: pods=3")
        );
        assert_eq!(budget.take_in(("team", Some(1 << 20)), &none, 1).0, 0);
        // Another namespace is not held by it, but the node's room is shared.
        assert_eq!(budget.take_in(("other", None), &none, 10), (7, None));
        let mut budget =
            Budget::new(None, &BTreeMap::new(), 0, &none).with_quotas(&quotas, &held, None);
        assert_eq!(budget.take_in(("team", Some(50 << 20)), &none, 5).0, 1);
        let refused = budget.take_in(("team", Some(50 << 20)), &none, 1).1;
        assert_eq!(
            refused.as_deref(),
            Some(
                "exceeded quota: m, requested: limits.memory=50Mi, used: limits.memory=60Mi, \
                 limited: limits.memory=100Mi"
            )
        );
        let bare = budget.take_in(("team", None), &none, 1);
        assert!(bare.0 == 0 && bare.1.unwrap().contains("must specify"));
        assert!(budget.limited());
    }

    #[test]
    fn in_a_cluster_a_namespace_starts_within_this_nodes_share_and_notes_what_waits() {
        let quota = InstanceQuota {
            pods: Some(("q".into(), 4)),
            ..InstanceQuota::default()
        };
        let quotas = BTreeMap::from([("team".to_owned(), quota)]);
        let held = BTreeMap::from([("team".to_owned(), (1, 0))]);
        let none = BTreeMap::new();
        let share = |mine, elsewhere| Share {
            mine: Amount::of(mine, 0),
            elsewhere: Amount::of(elsewhere, 0),
        };
        // This node runs 1 of its share of 2; another node holds 1 more.
        let shares = BTreeMap::from([("team".to_owned(), share(2, 1))]);
        let mut budget =
            Budget::new(None, &none, 0, &none).with_quotas(&quotas, &held, Some(&shares));
        let (one, why) = budget.take_in(("team", None), &none, 4);
        assert_eq!(one, 1);
        assert_eq!(
            why.as_deref(),
            Some(
                "exceeded quota: q, requested: pods=1, used: pods=3, limited: pods=4 (this \
                 node's share of the cluster's quota is 2; it asks the cluster for more while \
                 instances wait)"
            )
        );
        // Offered instances are held by the share as well, and what waits
        // is noted for the next ask.
        assert_eq!(budget.take_quota_for(("team", None), 2).0, 0);
        assert_eq!(budget.waiting()["team"], Amount::of(5, 0));
        // The others' shares take the quota: Kubernetes' sentence alone.
        let shares = BTreeMap::from([("team".to_owned(), share(4, 3))]);
        let mut budget =
            Budget::new(None, &none, 0, &none).with_quotas(&quotas, &held, Some(&shares));
        assert_eq!(
            budget.take_quota_for(("team", None), 1),
            (
                0,
                Some("exceeded quota: q, requested: pods=1, used: pods=4, limited: pods=4".into())
            )
        );
        // No share yet: nothing starts until the node has asked.
        let mut budget =
            Budget::new(None, &none, 0, &none).with_quotas(&quotas, &held, Some(&BTreeMap::new()));
        assert_eq!(budget.take_in(("team", None), &none, 1).0, 0);
        assert_eq!(budget.take_in(("other", None), &none, 1).0, 1);
        assert!(!budget.waiting().contains_key("other"));
    }

    #[test]
    fn a_daemonsets_instance_is_held_by_its_namespace_quota_not_the_nodes_room() {
        let quota = InstanceQuota {
            pods: Some(("q".into(), 2)),
            ..InstanceQuota::default()
        };
        let quotas = BTreeMap::from([("team".to_owned(), quota)]);
        let held = BTreeMap::from([("team".to_owned(), (1, 0))]);
        let none = BTreeMap::new();
        // A full node (capacity 1, one running): the DaemonSet's instance
        // still starts, and takes the namespace's last room.
        let mut budget =
            Budget::new(Some(1), &BTreeMap::new(), 1, &none).with_quotas(&quotas, &held, None);
        assert_eq!(budget.take_quota("team", None), Ok(()));
        assert_eq!(
            budget.take_quota("team", None),
            Err("exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2".to_owned())
        );
        // What it took is gone for the namespace's Jobs too.
        assert_eq!(budget.take_in(("team", None), &none, 1).0, 0);
        assert_eq!(budget.take_quota("other", Some(1 << 30)), Ok(()));
    }

    #[test]
    fn a_namespace_whose_stored_output_reached_its_quota_starts_nothing_more() {
        let quota = |stored| InstanceQuota {
            logs: Some(("logs".into(), 2 << 20, stored)),
            ..InstanceQuota::default()
        };
        let none = BTreeMap::new();
        let with = |stored| {
            let quotas = BTreeMap::from([("team".to_owned(), quota(stored))]);
            Budget::new(None, &none, 0, &none).with_quotas(&quotas, &BTreeMap::new(), None)
        };
        // Under the quota, however little room is left: every one starts.
        assert_eq!(
            with((2 << 20) - 1).take_in(("team", None), &none, 5),
            (5, None)
        );
        let (started, why) = with(2 << 20).take_in(("team", None), &none, 5);
        assert_eq!(started, 0);
        assert_eq!(
            why.as_deref(),
            Some(
                "exceeded quota: logs, requested: wasmjob.dev/logs>0, used: \
                 wasmjob.dev/logs=2Mi, limited: wasmjob.dev/logs=2Mi"
            )
        );
        assert_eq!(with(3 << 20).take_in(("other", None), &none, 1), (1, None));
    }

    #[test]
    fn asking_for_more_than_the_node_has_never_fits() {
        let budget = Budget::new(None, &gpus(2), 0, &gpus(2));
        assert_eq!(budget.never_fits(&gpus(2)), None);
        assert_eq!(budget.never_fits(&gpus(3)), Some("nvidia.com/gpu"));
        let none = Budget::new(None, &BTreeMap::new(), 0, &BTreeMap::new());
        assert_eq!(none.never_fits(&gpus(1)), Some("nvidia.com/gpu"));
    }
}

//! A namespace's quotas on instances at once (`pods`) and their memory
//! limits (`limits.memory`) across a cluster. Every node starts instances
//! on its own, so no node can ask the others before each start; instead
//! each node holds a *share* of the quota, recorded in the cluster's
//! database, and starts instances only within its share. At each
//! heartbeat (and sooner while it has instances waiting for room), under
//! the namespace's lock, a node sets its share to what its instances hold
//! plus what it is waiting to start, as far as the quota less the other
//! nodes' shares allows — never below what it holds, since what runs is
//! not stopped. The shares of all nodes never sum past the quota, so
//! neither do the instances: the quota holds for the cluster, as a
//! ResourceQuota holds for a Kubernetes cluster's pods.
//!
//! A node silent for longer than the grace period (NotReady) stops
//! counting: its work is replaced elsewhere, as Kubernetes evicts the pods
//! of an unreachable node. This module is the arithmetic; the runner keeps
//! the shares and the control plane stores them.

use serde::{Deserialize, Serialize};

/// Instances and their memory limits summed, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    /// Instances.
    pub pods: i64,
    /// Memory limits summed, in bytes.
    pub memory: i64,
}

impl Amount {
    /// `pods` instances of `memory` bytes each.
    pub fn of(pods: i64, memory: i64) -> Amount {
        Amount {
            pods,
            memory: pods * memory,
        }
    }

    /// Both parts, each the larger.
    pub fn max(self, other: Amount) -> Amount {
        Amount {
            pods: self.pods.max(other.pods),
            memory: self.memory.max(other.memory),
        }
    }
}

impl std::ops::Add for Amount {
    type Output = Amount;
    fn add(self, other: Amount) -> Amount {
        Amount {
            pods: self.pods + other.pods,
            memory: self.memory + other.memory,
        }
    }
}

/// A namespace's limits: `pods` and `limits.memory` (bytes), each only if
/// one of its quotas sets it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hard {
    /// `pods` (or `count/pods`), the tightest of the namespace's quotas.
    pub pods: Option<i64>,
    /// `limits.memory` in bytes, the tightest.
    pub memory: Option<i64>,
}

/// What a node asks for one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The namespace whose quotas are shared.
    pub namespace: String,
    /// Its limits.
    pub hard: Hard,
    /// What its instances of the namespace hold now.
    pub held: Amount,
    /// What it waits to start beyond that.
    pub waiting: Amount,
}

/// A node's share of one namespace's quota, and the other nodes' shares
/// summed when it was set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// What this node may hold.
    pub mine: Amount,
    /// What the other Ready nodes may hold, summed.
    pub elsewhere: Amount,
}

/// The share a node sets itself for `ask` when the other Ready nodes'
/// shares sum to `elsewhere`: what it holds and waits to start, within
/// what the quota leaves, and never less than what it holds. A limit the
/// namespace does not set takes whatever is asked.
pub fn share(ask: &Ask, elsewhere: Amount) -> Share {
    let part = |limit: Option<i64>, held: i64, waiting: i64, others: i64| {
        let wanted = held + waiting;
        match limit {
            None => wanted,
            Some(limit) => wanted.min(limit - others).max(held),
        }
    };
    let mine = Amount {
        pods: part(
            ask.hard.pods,
            ask.held.pods,
            ask.waiting.pods,
            elsewhere.pods,
        ),
        memory: part(
            ask.hard.memory,
            ask.held.memory,
            ask.waiting.memory,
            elsewhere.memory,
        ),
    };
    Share { mine, elsewhere }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(hard: (Option<i64>, Option<i64>), held: (i64, i64), waiting: (i64, i64)) -> Ask {
        Ask {
            namespace: "team".into(),
            hard: Hard {
                pods: hard.0,
                memory: hard.1,
            },
            held: Amount {
                pods: held.0,
                memory: held.1,
            },
            waiting: Amount {
                pods: waiting.0,
                memory: waiting.1,
            },
        }
    }

    fn pods(n: i64) -> Amount {
        Amount { pods: n, memory: 0 }
    }

    #[test]
    fn a_node_takes_what_it_waits_for_within_what_the_others_leave() {
        // pods=4, another node holds 1: this one, running 1 and waiting
        // for 5 more, gets 3 — the quota, never more.
        let share = share(&ask((Some(4), None), (1, 0), (5, 0)), pods(1));
        assert_eq!(share.mine.pods, 3);
        assert_eq!(share.elsewhere, pods(1));
        // Waiting for nothing: its share falls to what it holds, and the
        // rest is the other nodes' to take.
        assert_eq!(
            super::share(&ask((Some(4), None), (1, 0), (0, 0)), pods(0))
                .mine
                .pods,
            1
        );
    }

    #[test]
    fn a_share_never_falls_below_what_runs() {
        // The others took everything while this node was away: it keeps
        // what it runs (nothing is stopped) and starts nothing more.
        let share = share(&ask((Some(2), None), (2, 0), (3, 0)), pods(2));
        assert_eq!(share.mine.pods, 2);
    }

    #[test]
    fn each_limit_is_shared_on_its_own_and_an_unset_one_takes_what_is_asked() {
        let mib = 1 << 20;
        let elsewhere = Amount {
            pods: 1,
            memory: 60 * mib,
        };
        // limits.memory=100Mi: 40Mi left, though pods are not limited.
        let share = share(
            &ask((None, Some(100 * mib)), (0, 0), (3, 60 * mib)),
            elsewhere,
        );
        assert_eq!(
            share.mine,
            Amount {
                pods: 3,
                memory: 40 * mib
            }
        );
    }

    #[test]
    fn the_shares_of_nodes_that_ask_in_turn_never_sum_past_the_quota() {
        // Three nodes each waiting for 5 under pods=6, asking in turn as
        // the database's lock orders them, each seeing the others' shares.
        let mut shares = [0i64; 3];
        for round in 0..4 {
            for node in 0..3 {
                let others: i64 = (0..3).filter(|&n| n != node).map(|n| shares[n]).sum();
                let held = shares[node].min(round);
                let got = share(&ask((Some(6), None), (held, 0), (5, 0)), pods(others));
                shares[node] = got.mine.pods;
                assert!(shares.iter().sum::<i64>() <= 6, "{shares:?}");
            }
        }
        assert_eq!(shares.iter().sum::<i64>(), 6);
    }
}

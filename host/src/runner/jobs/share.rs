//! Sharing a full node between namespaces. When the node has no room
//! (`serve --max-instances`) and one namespace's Job waits for it while
//! another namespace runs more instances, the busier namespace gives way:
//! as many of its relaying slots as the waiting Jobs lack stop taking
//! successors, end after those already reserved (a few instances), and
//! the room they free goes to the namespace running fewest — at each pass
//! Jobs are stepped by priority, then by how many instances their
//! namespace runs here, then in the order they came. Without this, one
//! namespace's 100,000-completion Job at full parallelism held every slot
//! until its last instance, and another's CronJob runs waited for it.
//!
//! A pass only decides; the slots end on their own, so nothing is
//! stopped in the middle of an instance. A slot closed between two
//! instances (under a flood nearly all are: each waits its turn on the
//! executor's workers) runs none again, so its room is free at once and
//! the next pass gives it, without waiting for the slot to report. Priority is not overridden: a
//! higher-priority Job never gives way to a lower one's namespace.

use std::collections::BTreeMap;

use super::run::JobRun;

/// Each namespace that runs instances on this node now: how many, and
/// their memory limits summed (what its `pods` and `limits.memory` quotas
/// count, see `budget`).
pub(super) fn held_here(runs: &[JobRun]) -> BTreeMap<String, (i64, i64)> {
    let mut held: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for run in runs {
        let here = run.live.values().filter(|l| l.holds_room()).count() as i64;
        if here > 0 {
            let entry = held.entry(run.record.namespace.clone()).or_default();
            entry.0 += here;
            entry.1 += here * run.memory_each.unwrap_or(0);
        }
    }
    held
}

/// Each namespace's live instances of these Jobs that this node counts as
/// their owner: the Jobs spread over a cluster's, wherever they are (their
/// `active`), the others' here; and their memory limits summed.
pub(super) fn held_by_owner(runs: &[JobRun]) -> BTreeMap<String, (i64, i64)> {
    let mut held: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for run in runs {
        let live = match super::run::spreadable(&run.job) {
            true => i64::from(run.observed.active),
            false => run.live.values().filter(|l| l.holds_room()).count() as i64,
        };
        if live > 0 {
            let entry = held.entry(run.record.namespace.clone()).or_default();
            entry.0 += live;
            entry.1 += live * run.memory_each.unwrap_or(0);
        }
    }
    held
}

/// Instances each namespace runs on this node now (none: absent).
pub(super) fn running_here(runs: &[JobRun]) -> BTreeMap<String, i64> {
    let held = held_here(runs).into_iter();
    held.map(|(namespace, (running, _))| (namespace, running))
        .collect()
}

/// The order to step the Jobs in: higher priority first, then the
/// namespace running fewest here, then as they came.
pub(super) fn order(runs: &[JobRun], running: &BTreeMap<String, i64>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by_key(|&i| {
        let run = &runs[i];
        let busy = running.get(&run.record.namespace).copied().unwrap_or(0);
        (std::cmp::Reverse(run.priority_value()), busy)
    });
    order
}

/// A namespace whose Jobs lack room: its name, the priority of the most
/// urgent of them, how many instances they lack, and how many it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Waiting {
    pub namespace: String,
    pub priority: i32,
    pub lacking: usize,
    pub running: i64,
}

/// A namespace that may give way: its name, the lowest priority of its
/// relaying Jobs, and how many instances it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Busy {
    pub namespace: String,
    pub priority: i32,
    pub running: i64,
}

/// How many slots each busy namespace closes for the waiting ones: the
/// busiest first, each only for a namespace running fewer instances than
/// it and of no lower priority, until each waiting namespace's lack is met
/// or no busier namespace is left to give.
pub(super) fn give_way(waiting: &[Waiting], busy: &[Busy]) -> BTreeMap<String, usize> {
    let mut left: Vec<Busy> = busy.to_vec();
    let mut given: BTreeMap<String, usize> = BTreeMap::new();
    for want in waiting {
        // With each slot given the waiting namespace runs one more; a
        // giver keeps at least as many as it then runs.
        for running in (want.running..).take(want.lacking) {
            let giver = (left.iter_mut())
                .filter(|b| b.namespace != want.namespace && b.priority <= want.priority)
                .filter(|b| b.running > running + 1)
                .max_by_key(|b| b.running);
            let Some(giver) = giver else {
                break;
            };
            giver.running -= 1;
            *given.entry(giver.namespace.clone()).or_default() += 1;
        }
    }
    given
}

/// Closes the relaying slots [`give_way`] asks of each namespace, among
/// `runs` (each Job's lowest-priority first); the waiting namespaces are
/// those whose Jobs lacked room at this pass. Whether any slot closed
/// freed its room at once (it was between instances): the next pass can
/// give it.
pub(super) fn make_room(runs: &mut [JobRun], running: &BTreeMap<String, i64>) -> bool {
    let mut waiting: BTreeMap<String, Waiting> = BTreeMap::new();
    for run in runs.iter().filter(|r| r.lacking > 0) {
        let namespace = run.record.namespace.clone();
        let busy = running.get(&namespace).copied().unwrap_or(0);
        let entry = waiting.entry(namespace.clone()).or_insert(Waiting {
            namespace,
            priority: i32::MIN,
            lacking: 0,
            running: busy,
        });
        entry.priority = entry.priority.max(run.priority_value());
        entry.lacking += run.lacking;
    }
    if waiting.is_empty() {
        return false;
    }
    let mut busy: BTreeMap<String, Busy> = BTreeMap::new();
    for run in runs.iter().filter(|r| r.open_slots() > 0) {
        let namespace = run.record.namespace.clone();
        let entry = busy.entry(namespace.clone()).or_insert(Busy {
            running: running.get(&namespace).copied().unwrap_or(0),
            namespace,
            priority: i32::MAX,
        });
        entry.priority = entry.priority.min(run.priority_value());
    }
    let waiting: Vec<Waiting> = waiting.into_values().collect();
    let busy: Vec<Busy> = busy.into_values().collect();
    let mut given = give_way(&waiting, &busy);
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by_key(|&i| runs[i].priority_value());
    let mut released = 0;
    for index in order {
        let run = &mut runs[index];
        let Some(count) = given.get_mut(&run.record.namespace) else {
            continue;
        };
        let (closed, freed) = run.close_slots(*count);
        *count -= closed;
        released += freed;
    }
    released > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(namespace: &str, lacking: usize, running: i64) -> Waiting {
        Waiting {
            namespace: namespace.into(),
            priority: 0,
            lacking,
            running,
        }
    }

    fn busy(namespace: &str, running: i64) -> Busy {
        Busy {
            namespace: namespace.into(),
            priority: 0,
            running,
        }
    }

    #[test]
    fn the_busiest_namespace_gives_way_to_one_that_runs_nothing() {
        let given = give_way(&[waiting("team", 3, 0)], &[busy("flood", 256)]);
        assert_eq!(given, BTreeMap::from([("flood".to_owned(), 3)]));
        // The busiest gives first; none gives below the waiting one's share.
        let given = give_way(
            &[waiting("team", 4, 0)],
            &[busy("flood", 200), busy("batch", 56)],
        );
        assert_eq!(given, BTreeMap::from([("flood".to_owned(), 4)]));
        let given = give_way(&[waiting("team", 10, 0)], &[busy("flood", 4)]);
        assert_eq!(given, BTreeMap::from([("flood".to_owned(), 2)]));
    }

    #[test]
    fn no_one_gives_way_to_itself_to_a_busier_namespace_or_to_lower_priority() {
        assert!(give_way(&[waiting("flood", 9, 256)], &[busy("flood", 256)]).is_empty());
        assert!(give_way(&[waiting("team", 1, 10)], &[busy("flood", 11)]).is_empty());
        let low = Waiting {
            priority: -10,
            ..waiting("team", 1, 0)
        };
        assert!(give_way(&[low], &[busy("flood", 256)]).is_empty());
        let high = Busy {
            priority: 1000,
            ..busy("flood", 256)
        };
        assert!(give_way(&[waiting("team", 1, 0)], &[high]).is_empty());
    }
}

//! What a node has room for at one pass: instances it may still start
//! (`serve --max-instances`, less what runs) and the extended resources it
//! advertises (`serve --resources`), less what running instances hold. The
//! Job driver asks it before starting instances here, Jobs of higher
//! priority first (`priorityClassName`), so when the node is full the
//! waiting instances start in priority order as room comes free.

use std::collections::BTreeMap;

/// A node's room at one pass.
#[derive(Debug, Clone, Default)]
pub(super) struct Budget {
    /// Instances that may still start; unlimited when `None`.
    slots: Option<usize>,
    /// Each advertised extended resource: what is free.
    free: BTreeMap<String, i64>,
    /// Each advertised extended resource: the node's total.
    total: BTreeMap<String, i64>,
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
        }
    }

    /// Whether the node's room is limited at all (a capacity or extended
    /// resources).
    pub(super) fn limited(&self) -> bool {
        self.slots.is_some() || !self.total.is_empty()
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
    fn asking_for_more_than_the_node_has_never_fits() {
        let budget = Budget::new(None, &gpus(2), 0, &gpus(2));
        assert_eq!(budget.never_fits(&gpus(2)), None);
        assert_eq!(budget.never_fits(&gpus(3)), Some("nvidia.com/gpu"));
        let none = Budget::new(None, &BTreeMap::new(), 0, &BTreeMap::new());
        assert_eq!(none.never_fits(&gpus(1)), Some("nvidia.com/gpu"));
    }
}

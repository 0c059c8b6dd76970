//! Chains: how a Job's owner in a cluster hands another node many
//! completions at once. An instance offered to the cluster carries a
//! *budget*; the node that runs it follows each success with the chain's
//! next instance itself, until the budget is spent or an instance fails —
//! so a Job of ten thousand tiny instances costs a round trip through the
//! cluster's database per chain, not per instance. The owner still counts
//! every instance from its row, by the same rules as any other; a chain is
//! one of the Job's `parallelism` slots, and the completions it may still
//! make are *reserved* (they count against `completions`, not against
//! `parallelism`), as a relaying slot's successors are on one node.

use super::Observed;
use crate::manifest::{JobSpec, RestartPolicy};

/// The most completions one chain is given: what a node lost mid-chain can
/// hold up (its unsent successes run again elsewhere) stays small, and
/// chains that end early leave the rest to the nodes still running.
pub const MAX_CHAIN: u32 = 1_000;

/// Whether the Job's instances may be offered as chains: a Job with
/// `completions` whose next instance needs nothing from the last — not
/// Indexed (the next index depends on which succeeded), without a work
/// queue (each instance has its own item), and not restarted in place (a
/// failure ends the chain and the owner decides what follows).
pub fn chainable(spec: &JobSpec) -> bool {
    spec.completions().is_some()
        && !spec.indexed()
        && spec.queue.is_none()
        && spec.restart_policy() == RestartPolicy::Never
}

/// How many rounds of chains a Job's completions are cut into at least:
/// each round offers its chains afresh, so nodes that join (or finish
/// preparing the module) after the first round get a share of the next.
pub const ROUNDS: u32 = 2;

/// The completions nothing running, reserved or done covers yet.
pub fn uncovered(spec: &JobSpec, observed: &Observed) -> u32 {
    let covered = observed.succeeded + observed.active + observed.reserved;
    spec.completions().unwrap_or(0).saturating_sub(covered)
}

/// The budget of each of `links` chains started together: an even share,
/// over [`ROUNDS`] rounds, of what is not covered before the first of them
/// starts — at least one instance, at most [`MAX_CHAIN`]. (Each chain then
/// takes no more than what is still uncovered when it starts.)
pub fn budget(spec: &JobSpec, observed: &Observed, links: u32) -> u32 {
    if spec.completions().is_none() {
        return 1;
    }
    uncovered(spec, observed)
        .div_ceil(links.max(1) * ROUNDS)
        .clamp(1, MAX_CHAIN)
}

/// Where a chain stands, as its owner knows it from its latest link (the
/// one with the smallest budget seen: budgets fall by one along a chain,
/// so an older row read late never passes for a newer one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainState {
    /// The latest link's budget.
    pub budget: u32,
    /// The latest link's end: `None` while it runs, `Some(succeeded)`.
    pub ended: Option<bool>,
    /// Its node was lost, or the Job stopped it: nothing follows.
    pub over: bool,
}

/// What a chain holds of the Job's counts beyond its links' own rows
/// (each link that runs is `active` as any instance): (slots, reserved).
/// A link that runs reserves the completions after it; a link that
/// succeeded with budget left keeps the chain's slot for the next link and
/// reserves the rest; a failure, a spent budget or a lost node hold
/// nothing. The owner applies the difference whenever the state moves, so
/// links read in any order count once.
pub fn holds(state: &ChainState) -> (u32, u32) {
    match state.ended {
        _ if state.over => (0, 0),
        None => (0, state.budget.saturating_sub(1)),
        Some(true) if state.budget > 1 => (1, state.budget - 2),
        Some(_) => (0, 0),
    }
}

/// Moves `observed` from what `before` held to what `after` holds.
pub fn shift(observed: &mut Observed, before: &ChainState, after: &ChainState) {
    let (slots, reserved) = holds(before);
    observed.active = observed.active.saturating_sub(slots);
    observed.reserved = observed.reserved.saturating_sub(reserved);
    let (slots, reserved) = holds(after);
    observed.active += slots;
    observed.reserved += reserved;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::QueueSource;

    fn spec(completions: i32) -> JobSpec {
        JobSpec {
            completions: Some(completions),
            parallelism: Some(6),
            ..JobSpec::default()
        }
    }

    #[test]
    fn only_jobs_whose_next_instance_needs_nothing_from_the_last_chain() {
        assert!(chainable(&spec(10)));
        let mut indexed = spec(10);
        indexed.completion_mode = Some(crate::manifest::CompletionMode::Indexed);
        assert!(!chainable(&indexed));
        let mut queue = spec(10);
        queue.queue = Some(QueueSource {
            url: None,
            name: "q".into(),
            mode: Default::default(),
        });
        assert!(!chainable(&queue));
        let mut restarts = spec(10);
        restarts.template.spec.restart_policy = Some(RestartPolicy::OnFailure);
        assert!(!chainable(&restarts));
    }

    #[test]
    fn new_chains_share_what_is_not_covered_yet_over_rounds_up_to_the_cap() {
        let mut o = Observed::default();
        // Six chains at once: each half an even share, capped.
        assert_eq!(budget(&spec(100_000), &o, 6), MAX_CHAIN);
        assert_eq!(budget(&spec(10_000), &o, 6), 834, "ceil(10,000 / 12)");
        let spec = spec(120);
        assert_eq!(budget(&spec, &o, 6), 10, "ceil(120 / 12)");
        // Once two chains hold 10 + 10 (one running each, nine reserved
        // each), 100 are uncovered.
        o.active = 2;
        o.reserved = 18;
        assert_eq!(uncovered(&spec, &o), 100);
        assert_eq!(budget(&spec, &o, 4), 13, "ceil(100 / 8)");
        // Nothing uncovered: a chain is still its first instance.
        o.succeeded = 120;
        assert_eq!(budget(&spec, &o, 1), 1);
    }

    fn running(budget: u32) -> ChainState {
        ChainState {
            budget,
            ended: None,
            over: false,
        }
    }

    #[test]
    fn a_chain_keeps_its_slot_while_it_succeeds_with_budget_left() {
        // A chain of 3 offered: its head is active as an instance, two
        // completions reserved.
        let mut o = Observed {
            active: 1,
            reserved: 2,
            ..Observed::default()
        };
        let head = running(3);
        // The head succeeds: its own row leaves `active`, the chain keeps
        // the slot for the next link.
        o.active -= 1;
        let waiting = ChainState {
            ended: Some(true),
            ..head
        };
        shift(&mut o, &head, &waiting);
        assert_eq!((o.active, o.reserved), (1, 1));
        // The next link's row (budget 2) shows up: active as an instance.
        let next = running(2);
        shift(&mut o, &waiting, &next);
        o.active += 1;
        assert_eq!((o.active, o.reserved), (1, 1));
        // The last link (budget 1) succeeds: nothing held any more.
        let last = running(1);
        shift(&mut o, &next, &last);
        assert_eq!((o.active, o.reserved), (1, 0));
        o.active -= 1;
        let done = ChainState {
            ended: Some(true),
            ..last
        };
        shift(&mut o, &last, &done);
        assert_eq!((o.active, o.reserved), (0, 0));
    }

    #[test]
    fn links_read_in_any_order_count_once() {
        // The next link's row read before its predecessor's end.
        let mut o = Observed {
            active: 1,
            reserved: 4,
            ..Observed::default()
        };
        let head = running(5);
        let next = running(4);
        shift(&mut o, &head, &next);
        o.active += 1;
        // The head's end is an older link's: only its own row counts.
        o.active -= 1;
        assert_eq!((o.active, o.reserved), (1, 3));
    }

    #[test]
    fn a_failure_or_a_lost_node_ends_the_chain_and_lapses_its_reservations() {
        let mut o = Observed {
            active: 2,
            reserved: 10,
            ..Observed::default()
        };
        let link = running(5);
        o.active -= 1;
        let failed = ChainState {
            ended: Some(false),
            ..link
        };
        shift(&mut o, &link, &failed);
        assert_eq!((o.active, o.reserved), (1, 6));
        let waiting = ChainState {
            budget: 4,
            ended: Some(true),
            over: false,
        };
        let mut o = Observed {
            active: 1,
            reserved: 2,
            ..Observed::default()
        };
        let lost = ChainState {
            over: true,
            ..waiting
        };
        shift(&mut o, &waiting, &lost);
        assert_eq!((o.active, o.reserved), (0, 0));
    }
}

//! The fencing rule of a cluster's leases: how a node that may be cut off
//! from the cluster's database decides alone, without two nodes ever
//! deciding the same thing.
//!
//! The database grants a Job or CronJob to its owner for as long as the
//! owner's last heartbeat (stamped by the database's clock) is younger than
//! the object's `lostAfter`. The owner counts the lease from the moment it
//! *sent* that heartbeat, by its own monotonic clock, and stops [`MARGIN`]
//! short of it: the database stamped the heartbeat after it received it,
//! so the owner's deadline falls before the database's as long as the two
//! clocks' rates differ by less than the margin over a lease, and the
//! owner's wall clock (which names scheduled times) is within the margin of
//! the database's.
//!
//! - [`may_act`]: the owner starts work (an instance, a scheduled time)
//!   only before its deadline; a pinned object's owner always may (nobody
//!   else ever takes it).
//! - [`first_after_fence`]: another node takes the object only once the
//!   lease ended by the database's clock; that end is the fence, and the
//!   taker decides no scheduled time at or before it. Every time before the fence is the old owner's (it may have run
//!   it while cut off, and sends it when it can), every time after it is
//!   the new owner's: a scheduled time runs at most once, cluster-wide.

use crate::time::Micros;

/// How far short of its lease a node stops relying on it: room for clock
/// drift and skew between the node and the cluster's database.
pub const MARGIN: Micros = 1_000_000;

/// The deadline, on the holder's monotonic clock, of a lease of `lease`
/// kept by a heartbeat sent at `sent`.
pub fn deadline(sent: Micros, lease: Micros) -> Micros {
    sent + lease - MARGIN
}

/// Whether the holder may start work on an object at `now` (its monotonic
/// clock): always when the object is pinned to it, otherwise only before
/// the deadline of a lease it holds.
pub fn may_act(pinned: bool, deadline: Option<Micros>, now: Micros) -> bool {
    pinned || deadline.is_some_and(|d| now < d)
}

/// The last scheduled time a CronJob's new owner treats as decided: the
/// later of its last decided time and the fence it took the CronJob at.
pub fn first_after_fence(last_decided: Option<Micros>, fence: Option<Micros>) -> Option<Micros> {
    match (last_decided, fence) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = 1_000_000;

    #[test]
    fn a_lease_is_relied_on_until_the_margin_before_it_ends() {
        let d = deadline(100 * S, 10 * S);
        assert_eq!(d, 109 * S);
        assert!(may_act(false, Some(d), 108 * S));
        assert!(!may_act(false, Some(d), 109 * S), "the margin is kept");
        assert!(!may_act(false, None, 0), "no lease, no new work");
    }

    #[test]
    fn a_pinned_object_is_run_however_long_the_link_is_down() {
        assert!(may_act(true, None, 1_000 * S));
        assert!(may_act(true, Some(0), 1_000 * S));
    }

    #[test]
    fn the_old_and_new_owner_never_decide_the_same_scheduled_time() {
        // The database stamped the heartbeat at 100 s (its clock): the lease
        // of 10 s ends at 110 s;
        // the owner sent the heartbeat at 99.9 s by its clock, a wall clock
        // 0.5 s ahead of the database's (within the margin).
        let skew = S / 2;
        let owner_deadline = deadline(99 * S + 9 * S / 10, 10 * S);
        let fence = 110 * S;
        // The owner fires a time only when its clock reached it, before
        // its deadline: by the database's clock, before the fence.
        let last_owner_time = owner_deadline - 1;
        assert!(last_owner_time - skew < fence);
        // The taker's first time is after the fence.
        let after = first_after_fence(Some(95 * S), Some(fence)).unwrap();
        assert_eq!(after, fence);
        assert!(after >= last_owner_time);
        assert_eq!(first_after_fence(Some(120 * S), Some(fence)), Some(120 * S));
        assert_eq!(first_after_fence(None, None), None);
    }
}

//! Controllers: pure functions of (spec, observed state, now) that decide what
//! should happen next. They never touch Wasm, the store or the clock; the
//! runner carries their decisions out, so every rule is unit-tested here.

pub mod cronjob;
pub mod daemonset;
pub mod job;

//! End-to-end tests: the real `wasmjob` binary running real Wasm guests.
//! Guests come from `./dev setup` (dist/) and tests/fixtures; each module
//! below says which behaviour it pins.

mod access_http;
mod admission;
mod api;
mod backfill;
mod bad_input;
mod bench;
mod cluster;
mod configs;
mod corpus;
mod cron;
mod daemonsets;
mod depends;
mod edge;
mod examples;
mod hostile;
mod job_semantics;
mod jobs;
mod keyvalue;
mod kube_api;
mod languages;
mod network;
mod observe;
mod outcomes;
mod plugins;
mod pods;
mod pool;
mod queues;
mod registry;
mod registry_cluster;
mod run_pi;
mod sandbox;
mod schedules;
mod scheduling;
mod serve;
mod soak;
mod start_after;
mod state;
mod taints;

//! The runner: a node's loop and the parts it owns. It ties controllers,
//! executor and store together — each pass asks every workload kind's
//! controller what to do and carries the decision out; between passes it
//! waits for instances to end or for a command, and records what happened.
//! It decides nothing itself: every Kubernetes rule is in
//! [`crate::controller`].
//!
//! | part | what it owns |
//! | --- | --- |
//! | `node` | [`Runner`]: the loop, its inbox, the parts |
//! | `journal` | staged writes, the group commit, the hold while the store cannot be written |
//! | `writer` | the group commits' own thread and connection, so the loop goes on during them |
//! | `jobs` | the Job driver: Jobs, their instances, relaying slots, work queues, offers |
//! | `cron` | the CronJob driver |
//! | `daemon` | the DaemonSet driver |
//! | `driver` | the [`Driver`](driver::Driver) trait the three share, and the pass they are handed |
//! | `launcher` | starting attempts on the executor: sandbox, references, queue binding, checkpoint |
//! | `configs` | the ConfigMaps and Secrets attempts read, from the node's file |
//! | `budget` | the room a node has at one pass: instances and extended resources |
//! | `quotas` | the namespaces' ResourceQuotas between passes; room for the Jobs CronJobs create |
//! | `commands` | apply, delete, relabel and shutdown from the API |
//! | `resume` | what an earlier process left unfinished, run again at start |
//! | `cluster` | heartbeats, ownership, instances hosted for other nodes, rolling updates |
//!
//! Where instances run: on this node, in executor slots that start a Job's
//! next instances as soon as one succeeds (`jobs::relay`); in a cluster, on
//! whichever matching nodes claim them.

mod budget;
mod cluster;
mod commands;
mod config;
mod configs;
pub mod cron;
mod daemon;
mod driver;
mod inbox;
mod jobs;
mod journal;
mod launcher;
mod node;
mod nodes;
mod observer;
mod parts;
mod pulls;
mod quotas;
mod resume;
mod staged;
mod writer;
mod writes;

pub use cluster::ClusterConfig;
pub use commands::{Applied, ApplyFailure, ApplyRequest, Command, Incoming, Retaint};
pub use config::RunnerConfig;
pub use cron::CronRun;
pub use daemon::{DaemonRun, cluster_view};
pub use inbox::{Event, Inbox};
pub use jobs::{EndedWith, JobRun, MAX_STDIN_ITEM, manifest_json};
pub use journal::{GROUP_COMMIT, RETRY};
pub use node::Runner;
pub use observer::Observer;

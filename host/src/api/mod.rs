//! The node's API: wasmjob's own HTTP/JSON routes (`/wasmjob/v1/…`, which
//! the CLI uses) and the Kubernetes REST API (`kube`, which kubectl and the
//! client libraries use), both served by `wasmjob serve` over TLS with the
//! node's CA (`tls`); the blocking client; the wire types; the kubeconfig.
//!
//! Every request carries `Authorization: Bearer <token>`; the token is made on
//! the server's first start in `<state dir>/token` (mode 0600), and the CLI
//! reads it there or from `WASMJOB_TOKEN`; kubectl reads it from
//! `<state dir>/kubeconfig`.

pub mod audit;
mod authority;
mod backfill;
pub mod client;
mod cluster;
mod commands;
mod dashboard;
mod elsewhere;
mod error;
pub mod kube;
pub mod kubeconfig;
mod logs;
pub mod metrics;
mod output;
mod precompile;
mod query;
mod reads;
pub mod revisions;
pub mod server;
mod state;
pub mod tls;
pub mod wire;

/// The address a server listens on when not told otherwise: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7433";

/// The name of the token file in the state directory.
pub const TOKEN_FILE: &str = "token";

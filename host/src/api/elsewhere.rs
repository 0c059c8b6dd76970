//! The output of an attempt running on another node of the cluster, read
//! from that node's API as it is written — as the API server reads a pod's
//! log from the kubelet of its node — so `logs` and `logs -f` on any node
//! show it live.
//!
//! Each node answers `GET /wasmjob/v1/live?uid=UID&after=N&waitSeconds=S`
//! for the attempts it runs: the output so far and each line's time, once
//! the output is longer than `N` bytes (or `S` seconds have passed). The
//! nodes of a cluster share the token and the CA; a node is asked over
//! HTTPS, and over plain HTTP if it serves that (`--plain-http`).

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::Query;
use axum::http::StatusCode;
use base64::Engine as _;
use serde_json::{Value, json};

use super::client::Client;
use super::error::ApiError;
use super::state::Shared;
use crate::runtime::line_times::LineTimes;
use crate::store::{InstanceRecord, Store};

/// The longest a `live` request waits for more output.
const LONGEST_WAIT: u64 = 30;

/// `GET /wasmjob/v1/live`: the running attempt of an instance on this
/// node; 404 when none runs here.
pub(super) async fn live(
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let uid = query.get("uid").cloned().unwrap_or_default();
    let number = |key: &str| query.get(key).and_then(|v| v.parse::<u64>().ok());
    let after = number("after").unwrap_or(0) as usize;
    let wait = number("waitSeconds").unwrap_or(0).min(LONGEST_WAIT);
    let not_here = || {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("no attempt of {uid} runs here"),
        )
    };
    let mut written = crate::runtime::live::written(&uid).ok_or_else(not_here)?;
    // Kept bytes, not written ones: past the output cap an attempt writes
    // on and keeps nothing more, and the asker must not be answered at once.
    let longer = async {
        written.borrow_and_update();
        while crate::runtime::live::kept_len(&uid).is_some_and(|kept| kept <= after) {
            if written.changed().await.is_err() {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(wait), longer).await;
    let (attempt, data, times) =
        crate::runtime::live::output_so_far_timed(&uid).ok_or_else(not_here)?;
    let engine = base64::engine::general_purpose::STANDARD;
    Ok(Json(json!({
        "attempt": attempt,
        "data": engine.encode(&data),
        "times": engine.encode(times.encode()),
    })))
}

/// A running attempt's output as another node answered it.
#[derive(Debug, Clone)]
pub struct Live {
    /// Which attempt.
    pub attempt: u32,
    /// Its output so far.
    pub data: Vec<u8>,
    /// When each line began.
    pub times: LineTimes,
}

/// How to reach the other nodes of this node's cluster.
#[derive(Clone)]
pub struct Elsewhere {
    this: String,
    token: String,
    ca: Option<Vec<u8>>,
    /// API addresses, by node name.
    addresses: HashMap<String, String>,
}

impl Elsewhere {
    /// The other nodes of the cluster, as its database knows them; none
    /// for a node alone (or while the database does not answer).
    pub fn of(state: &Shared, store: &Store) -> Option<Elsewhere> {
        let grace = state.cluster.as_ref()?.grace;
        let nodes = store.control_plane()?.nodes(grace).ok()?;
        let dir = state
            .db
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let ca = std::fs::read(dir.join(super::tls::TLS_DIR).join(super::tls::CA_FILE)).ok();
        Some(Elsewhere {
            this: state.node.lock().expect("node info").name.clone(),
            token: state.token.clone(),
            ca,
            addresses: nodes.into_iter().map(|n| (n.name, n.address)).collect(),
        })
    }

    /// Whether `instance` runs on another node this one can ask.
    pub fn runs(&self, instance: &InstanceRecord) -> bool {
        instance.finish_time.is_none()
            && instance.node_name != self.this
            && self.addresses.contains_key(&instance.node_name)
    }

    /// The running attempt of `instance` on its node, once its output is
    /// longer than `after` bytes (waiting at most `wait` seconds); none when
    /// it does not run elsewhere or its node does not answer.
    pub fn live(&self, instance: &InstanceRecord, after: usize, wait: u64) -> Option<Live> {
        if !self.runs(instance) {
            return None;
        }
        let address = &self.addresses[&instance.node_name];
        let query = [
            ("uid", instance.uid.clone()),
            ("after", after.to_string()),
            ("waitSeconds", wait.to_string()),
        ];
        let limit = Duration::from_secs(wait + 5);
        let answer: Value = ["https", "http"].iter().find_map(|scheme| {
            let server = format!("{scheme}://{address}");
            let client = Client::trusting_within(&server, &self.token, self.ca.as_deref(), limit);
            client.get("/wasmjob/v1/live", &query).ok()
        })?;
        let engine = base64::engine::general_purpose::STANDARD;
        let decode = |key: &str| engine.decode(answer[key].as_str().unwrap_or_default()).ok();
        Some(Live {
            attempt: answer["attempt"].as_u64()? as u32,
            data: decode("data")?,
            times: LineTimes::decode(&decode("times")?),
        })
    }
}

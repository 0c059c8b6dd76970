//! `get` and `list`: the objects of a resource that a namespace, a label
//! selector and a field selector keep, stamped with their
//! `resourceVersion`, served as a typed list (`JobList`), one object, or a
//! `Table`, a page at a time with `limit` and `continue`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::call::{Call, Target, accept};
use super::discovery::Served;
use super::shape::{self, Include};
use super::status::KubeError;
use crate::api::query::Filter;
use crate::api::reads::items;
use crate::api::state::Shared;
use crate::selector::{FieldSelector, Selector};

/// One object as read: the shape served, and wasmjob's own shape (what its
/// columns read) where that differs (an instance served as a Pod, an
/// event).
pub(super) struct Found {
    native: Option<Value>,
    pub(super) served: Value,
}

impl Found {
    /// wasmjob's own shape of the object.
    pub(super) fn native(&self) -> &Value {
        self.native.as_ref().unwrap_or(&self.served)
    }

    /// The two shapes, taken.
    fn into_shapes(self) -> (Value, Value) {
        let native = self.native.unwrap_or_else(|| self.served.clone());
        (native, self.served)
    }
}

/// The objects `target` and the call's selectors name, sorted by
/// namespace and name, each stamped with its revision.
pub(super) async fn gather(state: &Shared, call: &Call) -> Result<Vec<Found>, KubeError> {
    gather_in(
        state,
        &call.target,
        call.param("labelSelector"),
        call.param("fieldSelector"),
    )
    .await
}

/// As [`gather`], with the selectors given.
pub(super) async fn gather_in(
    state: &Shared,
    target: &Target,
    labels: Option<&str>,
    fields: Option<&str>,
) -> Result<Vec<Found>, KubeError> {
    gather_as(state, target, (labels, fields), true).await
}

/// As [`gather_in`]; unstamped for wasmjob's own list, which shows no
/// `resourceVersion`s (numbering a thousand objects is a tenth of a read).
async fn gather_as(
    state: &Shared,
    target: &Target,
    (labels, fields): (Option<&str>, Option<&str>),
    stamped: bool,
) -> Result<Vec<Found>, KubeError> {
    let selector = Selector::parse(labels.unwrap_or(""))
        .map_err(|e| KubeError::bad_request(format!("unable to parse requirement: {e}")))?;
    let fields = FieldSelector::parse(fields.unwrap_or("")).map_err(KubeError::bad_request)?;
    let served = target.served;
    // wasmjob's own filter by name is of an event's object; an event's
    // own name is matched below.
    let by_name = served.resource != crate::resource::ResourceType::Events;
    let filter = Filter {
        namespace: target.namespace.clone(),
        name: target.name.clone().filter(|_| by_name),
        ..Filter::default()
    };
    let native = items(state, served.resource, filter, selector.clone()).await?;
    let mut found: Vec<Found> = native
        .into_iter()
        .map(|native| {
            let (native, mut served_shape) = match shape::reshaped(served) {
                true => (Some(native.clone()), shape::shaped(served, native)),
                false => (None, native),
            };
            if stamped {
                state.revisions.stamp(&mut served_shape);
            }
            Found {
                native,
                served: served_shape,
            }
        })
        .filter(|f| {
            let picked = selector.0.is_empty() || {
                let labels = f.served["metadata"]["labels"].clone();
                selector.matches(&serde_json::from_value(labels).unwrap_or_default())
            };
            picked
                && fields.matches(&f.served)
                && target
                    .name
                    .as_ref()
                    .is_none_or(|n| f.served["metadata"]["name"] == n.as_str())
        })
        .collect();
    found.sort_by_key(|f| order(&f.served));
    Ok(found)
}

fn order(object: &Value) -> (String, String) {
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    (
        text(&object["metadata"]["namespace"]),
        text(&object["metadata"]["name"]),
    )
}

/// The media type of wasmjob's own list (its CLI asks for it): the
/// objects as stored, without `resourceVersion`s — read once, never
/// watched from — written from the stored text where it can be.
pub const OWN_LIST: &str = "application/json;as=List;g=wasmjob.dev;v=v1";

/// wasmjob's own list of Jobs, CronJobs or (on a single node) DaemonSets,
/// written from the stored text: a thousand Jobs are most of a megabyte
/// that need not be parsed, copied, hashed and written out again. `None`
/// where the list is made as any other (field selectors, paging, a
/// cluster's DaemonSets, whose counts are made when read).
async fn own_list(state: &Shared, call: &Call) -> Result<Option<Response>, KubeError> {
    let asked = wants_own_list(call);
    let served = call.target.served;
    let kind = served.resource.kind().filter(|k| k.runs());
    let counted =
        served.resource == crate::resource::ResourceType::DaemonSets && state.cluster.is_some();
    let plain = ["fieldSelector", "limit", "continue"]
        .iter()
        .all(|p| call.param(p).is_none());
    let (Some(kind), true, false, true) = (kind, asked, counted, plain) else {
        return Ok(None);
    };
    let selector = Selector::parse(call.param("labelSelector").unwrap_or(""))
        .map_err(|e| KubeError::bad_request(format!("unable to parse requirement: {e}")))?;
    let namespace = call.target.namespace.clone();
    let body = crate::api::state::read(state, move |store| {
        let mut found = store
            .live_objects_text(kind, namespace.as_deref())
            .map_err(crate::api::error::internal)?;
        found.retain(|o| selector.matches(&o.labels));
        found.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        let mut items = Vec::with_capacity(found.len());
        for object in &found {
            let item = crate::resource::object_json_text(object);
            items.push(item.map_err(crate::api::error::internal)?);
        }
        Ok(format!(
            r#"{{"apiVersion":"v1","kind":"List","metadata":{{}},"items":[{}]}}"#,
            items.join(",")
        ))
    })
    .await?;
    let content = [(axum::http::header::CONTENT_TYPE, "application/json")];
    Ok(Some((content, body).into_response()))
}

/// Whether the client asked for wasmjob's own list ([`OWN_LIST`]).
fn wants_own_list(call: &Call) -> bool {
    accept(&call.headers).contains("g=wasmjob.dev")
}

/// `GET` of a collection.
pub(super) async fn list(state: &Shared, call: &Call) -> Result<Response, KubeError> {
    if let Some(listed) = own_list(state, call).await? {
        return Ok(listed);
    }
    let own = wants_own_list(call);
    let selectors = (call.param("labelSelector"), call.param("fieldSelector"));
    let mut found = gather_as(state, &call.target, selectors, !own).await?;
    let revision = state.revisions.current();
    // A page: `continue` is the offset of the next one.
    let start: usize = match call.param("continue").filter(|c| !c.is_empty()) {
        None => 0,
        Some(token) => token.parse().map_err(|_| {
            KubeError::new(
                StatusCode::GONE,
                format!("the continue token {token:?} is not one this server gave"),
            )
            .reason("Expired")
        })?,
    };
    let total = found.len();
    let limit = call
        .param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|&l| l > 0);
    let end = limit.map_or(total, |l| (start + l).min(total));
    let page: Vec<Found> = found.drain(start.min(total)..end).collect();
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if end < total {
        metadata["continue"] = json!(end.to_string());
        metadata["remainingItemCount"] = json!(total - end);
    }
    respond(call, page, metadata, revision)
}

/// `GET` of one object.
pub(super) async fn get(state: &Shared, call: &Call) -> Result<Response, KubeError> {
    let name = call.target.name.clone().unwrap_or_default();
    let mut found = gather_in(state, &call.target, None, None).await?;
    if found.is_empty() {
        return Err(KubeError::not_found(&call.target.served.qualified(), &name));
    }
    let one = found.remove(0);
    if shape::wants_table(accept(&call.headers)) {
        let resource = call.target.served.resource;
        let revision = state.revisions.current();
        let include = Include::parse(call.param("includeObject"));
        let (native, served) = one.into_shapes();
        let table = shape::table(resource, &[native], &[served], include, revision);
        return Ok(Json(table).into_response());
    }
    Ok(Json(one.served).into_response())
}

/// A list, as a `Table` when asked for one.
fn respond(
    call: &Call,
    page: Vec<Found>,
    metadata: Value,
    revision: u64,
) -> Result<Response, KubeError> {
    let served = call.target.served;
    if shape::wants_table(accept(&call.headers)) {
        let resource = served.resource;
        let (native, shaped): (Vec<Value>, Vec<Value>) =
            page.into_iter().map(Found::into_shapes).unzip();
        let include = Include::parse(call.param("includeObject"));
        let mut table = shape::table(resource, &native, &shaped, include, revision);
        table["metadata"] = metadata;
        return Ok(Json(table).into_response());
    }
    Ok(Json(typed_list(
        served,
        page.into_iter().map(|f| f.served).collect(),
        metadata,
    ))
    .into_response())
}

/// `JobList`, `PodList`, …
pub(super) fn typed_list(served: &Served, items: Vec<Value>, metadata: Value) -> Value {
    let mut list = serde_json::Map::new();
    list.insert("apiVersion".into(), json!(served.group_version()));
    list.insert("kind".into(), json!(format!("{}List", served.kind)));
    list.insert("metadata".into(), metadata);
    list.insert("items".into(), Value::Array(items));
    Value::Object(list)
}

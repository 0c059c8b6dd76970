//! `wasmjob get`: the objects a server has, as kubectl's tables (see
//! `columns`), names or Kubernetes shapes, once or as they change.

use std::path::Path;

use serde_json::Value;

use super::jsonpath::Template;
use super::remote::connect;
use super::{CliError, GetFormat};
use crate::resource::ResourceType;

/// What `get` was asked for.
pub struct GetRequest<'a> {
    /// The kind as typed.
    pub kind: &'a str,
    /// Names, if any.
    pub names: &'a [String],
    /// `-l`.
    pub selector: Option<&'a str>,
    /// `-o`.
    pub format: Option<GetFormat>,
    /// `-n`, or `None` for all namespaces.
    pub namespace: Option<&'a str>,
    /// `-w`.
    pub watch: bool,
    /// `--sort-by`.
    pub sort_by: Option<&'a str>,
    /// `--field-selector`.
    pub field_selector: Option<&'a str>,
    /// `--show-labels`.
    pub show_labels: bool,
}

/// `KIND/NAME`, or `KIND` with a separate `NAME`: the kind and the name;
/// none when neither form is given.
pub(super) fn kind_and_name<'a>(
    target: &'a str,
    name: Option<&'a str>,
) -> Option<(&'a str, &'a str)> {
    match (target.split_once('/'), name) {
        (Some((kind, name)), None) => Some((kind, name)),
        (None, Some(name)) => Some((target, name)),
        _ => None,
    }
}

pub(super) fn resource(kind: &str) -> Result<ResourceType, CliError> {
    ResourceType::parse(kind).ok_or_else(|| {
        CliError::BadInput(format!(
            "the server doesn't have a resource type {kind:?}: use jobs, cronjobs, daemonsets, instances (pods), nodes or events"
        ))
    })
}

/// Fetches a list of a resource type through the node's Kubernetes API
/// (instances in wasmjob's own shape): those in `namespace` (all when
/// `None`) that `selector` picks; with `name`, the one of that name (none
/// if there is none), or for events, those about the object of that name.
pub fn fetch(
    client: &crate::api::client::Client,
    resource: ResourceType,
    namespace: Option<&str>,
    selector: Option<&str>,
    name: Option<&str>,
) -> Result<Vec<Value>, CliError> {
    use crate::api::kube::read_path;
    let mut query = Vec::new();
    if let Some(selector) = selector {
        query.push(("labelSelector", selector.to_owned()));
    }
    let cluster_scoped = resource.cluster_scoped();
    let one = match (name, resource) {
        (Some(name), ResourceType::Events) => {
            query.push(("fieldSelector", format!("involvedObject.name={name}")));
            None
        }
        // An object is named in a namespace: in every one, it is looked for.
        (Some(name), _) if namespace.is_none() && !cluster_scoped => {
            query.push(("fieldSelector", format!("metadata.name={name}")));
            None
        }
        (name, _) => name,
    };
    if let Some(name) = one {
        let path = read_path(resource, namespace, Some(name));
        let found: Value = match client.get(&path, &[]) {
            Ok(found) => found,
            Err(crate::api::client::ClientError::Status { status: 404, .. }) => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        // A name is looked up alone; a selector given with it still has
        // to pick the object.
        let labels =
            serde_json::from_value(found["metadata"]["labels"].clone()).unwrap_or_default();
        let picked = crate::selector::Selector::parse(selector.unwrap_or(""))
            .map_err(|e| CliError::BadInput(format!("-l: {e}")))?
            .matches(&labels);
        return Ok(if picked { vec![found] } else { Vec::new() });
    }
    let path = read_path(resource, namespace, None);
    let list: Value = client.get_as(&path, &query, crate::api::kube::OWN_LIST)?;
    // Taken, not cloned: a list of thousands of objects is megabytes.
    Ok(match list {
        Value::Object(mut list) => match list.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    })
}

/// One named object, or kubectl's NotFound error.
pub fn fetch_one(
    client: &crate::api::client::Client,
    resource: ResourceType,
    namespace: &str,
    name: &str,
) -> Result<Value, CliError> {
    fetch(client, resource, Some(namespace), None, Some(name))?
        .into_iter()
        .next()
        .ok_or_else(|| {
            CliError::Failed(format!(
                "Error from server (NotFound): {} {name:?} not found",
                qualified_plural(resource)
            ))
        })
}

/// `wasmjob get KIND [NAME…]`.
pub fn get(
    server: Option<&str>,
    state_dir: &Path,
    request: GetRequest<'_>,
) -> Result<(), CliError> {
    let resource = resource(request.kind)?;
    let fields = crate::selector::FieldSelector::parse(request.field_selector.unwrap_or(""))
        .map_err(CliError::BadInput)?;
    let sort = match request.sort_by {
        Some(path) => Some(Template::relaxed(path).map_err(|e| CliError::BadInput(e.to_string()))?),
        None => None,
    };
    let client = connect(server, state_dir)?;
    let mut items = named(&client, resource, &request)?;
    items.retain(|item| fields.matches(item));
    if let Some(sort) = &sort {
        sort_by(&mut items, sort);
    }
    let single = request.names.len() == 1 && items.len() == 1;
    match request.format.clone() {
        Some(GetFormat::JsonPath(template)) => {
            let value = match single {
                true => items.into_iter().next().expect("one item"),
                false => crate::resource::list_json(items),
            };
            out!("{}", template.render(&value));
        }
        Some(GetFormat::CustomColumns(columns)) => {
            let header: Vec<&str> = columns.iter().map(|(h, _)| h.as_str()).collect();
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|item| columns.iter().map(|(_, path)| cell(path, item)).collect())
                .collect();
            out!("{}", super::table::render(&header, &rows));
        }
        Some(format @ (GetFormat::Json | GetFormat::Yaml)) => {
            // One named object prints as itself, anything else as a List.
            let value = match single {
                true => items.into_iter().next().expect("one item"),
                false => crate::resource::list_json(items),
            };
            match format {
                GetFormat::Json => {
                    outln!("{}", serde_json::to_string_pretty(&value).expect("JSON"))
                }
                _ => out!("{}", serde_yaml_ng::to_string(&value).expect("YAML")),
            }
        }
        Some(GetFormat::Name) => {
            for item in &items {
                let name = item["metadata"]["name"].as_str().unwrap_or("");
                outln!("{}/{name}", name_prefix(resource));
            }
        }
        format => {
            return table(
                &client,
                resource,
                &request,
                items,
                format == Some(GetFormat::Wide),
            );
        }
    }
    Ok(())
}

/// The objects asked for: every one the selector picks, or each named one
/// (a name not found is an error, as kubectl's).
fn named(
    client: &crate::api::client::Client,
    resource: ResourceType,
    request: &GetRequest<'_>,
) -> Result<Vec<Value>, CliError> {
    let (namespace, selector) = (request.namespace, request.selector);
    if request.names.is_empty() {
        return fetch(client, resource, namespace, selector, None);
    }
    let mut items = Vec::new();
    for name in request.names {
        let found = fetch(client, resource, namespace, selector, Some(name))?;
        if found.is_empty() {
            return Err(CliError::Failed(format!(
                "Error from server (NotFound): {} {name:?} not found",
                qualified_plural(resource)
            )));
        }
        items.extend(found);
    }
    Ok(items)
}

/// The table of `items`, then with `--watch` a row per change.
fn table(
    client: &crate::api::client::Client,
    resource: ResourceType,
    request: &GetRequest<'_>,
    items: Vec<Value>,
    wide: bool,
) -> Result<(), CliError> {
    if items.is_empty() && request.watch {
        return watch(client, resource, request, items, wide, false);
    }
    if items.is_empty() {
        match request.namespace {
            Some(ns) => eprintln!("No resources found in {ns} namespace."),
            None => eprintln!("No resources found"),
        }
        return Ok(());
    }
    out!("{}", render(resource, &items, wide, request.show_labels));
    if request.watch {
        return watch(client, resource, request, items, wide, true);
    }
    Ok(())
}

/// The aligned text table of `get` (`--show-labels`: with a LABELS column).
fn render(resource: ResourceType, items: &[Value], wide: bool, labels: bool) -> String {
    let mut columns = crate::columns::columns(resource, items, wide);
    if labels {
        columns.header.push("LABELS");
        for (row, item) in columns.rows.iter_mut().zip(items) {
            row.push(label_text(&item["metadata"]["labels"]));
        }
    }
    super::table::render(&columns.header, &columns.rows)
}

/// `k=v,k2=v2`, or `<none>`.
fn label_text(labels: &Value) -> String {
    let pairs: Vec<String> = labels
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    match pairs.is_empty() {
        true => "<none>".into(),
        false => pairs.join(","),
    }
}

/// A custom column's cell: what the path finds, comma-joined, or `<none>`.
fn cell(path: &Template, item: &Value) -> String {
    let found: Vec<String> = path
        .values(item)
        .into_iter()
        .filter(|v| !v.is_null())
        .map(super::jsonpath::text)
        .collect();
    match found.is_empty() {
        true => "<none>".into(),
        false => found.join(","),
    }
}

/// Sorts by the value at `path`: numbers as numbers, the rest as text;
/// items without it first, as kubectl sorts them.
fn sort_by(items: &mut [Value], path: &Template) {
    let key = |item: &Value| -> (u8, f64, String) {
        match path.values(item).first() {
            None => (0, 0.0, String::new()),
            Some(v) => match v.as_f64() {
                Some(n) => (1, n, String::new()),
                None => (2, 0.0, super::jsonpath::text(v)),
            },
        }
    };
    items.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then(ka.1.total_cmp(&kb.1))
            .then(ka.2.cmp(&kb.2))
    });
}

/// `--watch`: after the table, one more row per change of an object, as
/// kubectl prints them, until interrupted. It reads again when the server
/// says something was committed (`/wasmjob/v1/commits`), not on a timer.
fn watch(
    client: &crate::api::client::Client,
    resource: ResourceType,
    request: &GetRequest<'_>,
    mut seen: Vec<Value>,
    wide: bool,
    mut header_printed: bool,
) -> Result<(), CliError> {
    use std::io::Write as _;
    let name = (request.names.len() == 1).then(|| request.names[0].as_str());
    let fields = crate::selector::FieldSelector::parse(request.field_selector.unwrap_or(""))
        .map_err(CliError::BadInput)?;
    // A cluster's nodes change with heartbeats, not commits: look each second.
    let wait = match resource {
        ResourceType::Nodes => "1",
        _ => "30",
    };
    // The count before the first look: a change after the table was read
    // is then seen at the first look.
    let mut commits = commits_past(client, 0, "0")?;
    loop {
        let mut now = fetch(client, resource, request.namespace, request.selector, name)?;
        now.retain(|item| fields.matches(item));
        for item in &now {
            let uid = &item["metadata"]["uid"];
            let before = seen
                .iter()
                .find(|s| &s["metadata"]["uid"] == uid && !uid.is_null());
            if before != Some(item) {
                let table = render(
                    resource,
                    std::slice::from_ref(item),
                    wide,
                    request.show_labels,
                );
                // The header is printed once; after it, only rows.
                let skip = usize::from(header_printed);
                header_printed = true;
                out!(
                    "{}",
                    table
                        .lines()
                        .skip(skip)
                        .map(|l| format!("{l}\n"))
                        .collect::<String>()
                );
                let _ = std::io::stdout().flush();
            }
        }
        seen = now;
        // The commits of a burst (a Job's instances ending) are read
        // together: a look at most every 50 ms.
        let looked = std::time::Instant::now();
        commits = commits_past(client, commits, wait)?;
        let gap = std::time::Duration::from_millis(50);
        std::thread::sleep(gap.saturating_sub(looked.elapsed()));
    }
}

/// Waits until the server has seen a commit past `after` (at most `wait`
/// seconds); the server's count then.
fn commits_past(
    client: &crate::api::client::Client,
    after: u64,
    wait: &str,
) -> Result<u64, CliError> {
    let query = [
        ("after", after.to_string()),
        ("timeoutSeconds", wait.to_owned()),
    ];
    let answer: Value = client.get("/wasmjob/v1/commits", &query)?;
    Ok(answer["commits"].as_u64().unwrap_or(0))
}

fn qualified_plural(resource: ResourceType) -> String {
    match resource {
        ResourceType::Jobs | ResourceType::CronJobs => format!("{}.batch", resource.plural()),
        ResourceType::DaemonSets => "daemonsets.apps".into(),
        other => other.plural().into(),
    }
}

/// How kubectl names a kind in its `KIND/NAME` lines.
pub(super) fn name_prefix(resource: ResourceType) -> &'static str {
    match resource {
        ResourceType::Nodes => "node",
        ResourceType::Events => "event",
        ResourceType::Instances => "instance",
        other => other.kind().expect("an object kind").qualified(),
    }
}

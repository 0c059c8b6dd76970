//! The three patch forms of `PATCH`: JSON merge patch (RFC 7386), JSON
//! patch (RFC 6902), and Kubernetes' strategic merge patch, which merges
//! the lists Kubernetes keys by a field (containers by `name`, volume
//! mounts by `mountPath`, …) instead of replacing them, and reads the
//! `$patch`, `$setElementOrder` and `$retainKeys` directives kubectl
//! writes.

use serde_json::{Map, Value};

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct PatchError(pub String);

/// RFC 7386: objects merge, `null` removes, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let fields = target.as_object_mut().expect("an object");
    for (key, value) in patch {
        if value.is_null() {
            fields.remove(key);
        } else {
            merge(fields.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// The field that keys the elements of list `field` in a strategic merge
/// patch, as Kubernetes' types declare it (`patchMergeKey`); none for a
/// list that is replaced whole.
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims" => Some("name"),
        "ownerReferences" => Some("uid"),
        "hostAliases" => Some("ip"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "ports" => Some("containerPort"),
        "conditions" => Some("type"),
        _ => None,
    }
}

/// A strategic merge patch of `patch` onto `target`.
pub fn strategic(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = patch.clone();
        replaced.remove("$patch");
        *target = Value::Object(replaced);
        return Ok(());
    }
    if patch.get("$patch").and_then(Value::as_str) == Some("delete") {
        *target = Value::Object(Map::new());
        return Ok(());
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let retain: Option<Vec<String>> = patch.get("$retainKeys").and_then(|keys| {
        keys.as_array().map(|k| {
            k.iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
    });
    let fields = target.as_object_mut().expect("an object");
    for (key, value) in patch {
        if key.starts_with('$') {
            // `$setElementOrder/…` only orders; `$patch`/`$retainKeys` read above.
            continue;
        }
        if let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(have)), Some(gone)) = (fields.get_mut(list), value.as_array())
            {
                have.retain(|v| !gone.contains(v));
            }
            continue;
        }
        if value.is_null() {
            fields.remove(key);
            continue;
        }
        let slot = fields.entry(key.clone()).or_insert(Value::Null);
        match (merge_key(key), value) {
            (Some(by), Value::Array(items)) if slot.is_array() => merge_list(slot, items, by)?,
            (_, Value::Object(_)) => strategic(slot, value)?,
            _ => *slot = value.clone(),
        }
    }
    if let Some(retain) = retain {
        fields.retain(|k, _| retain.contains(k));
    }
    Ok(())
}

/// Merges list `items` into `target` by field `by`: an element whose key
/// is present is patched, `$patch: delete` removes it, a new one is added.
fn merge_list(target: &mut Value, items: &[Value], by: &str) -> Result<(), PatchError> {
    let have = target.as_array_mut().expect("a list");
    for item in items {
        let Some(key) = item.get(by) else {
            return Err(PatchError(format!(
                "a strategic merge patch element has no merge key {by:?}: {item}"
            )));
        };
        let at = have.iter().position(|h| h.get(by) == Some(key));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (at, delete) {
            (Some(i), true) => {
                have.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic(&mut have[i], item)?,
            (None, false) => {
                let mut added = Value::Null;
                strategic(&mut added, item)?;
                have.push(added);
            }
        }
    }
    Ok(())
}

/// RFC 6902: `add`, `remove`, `replace`, `move`, `copy` and `test`, in
/// order, all or nothing.
pub fn json_patch(target: &mut Value, operations: &Value) -> Result<(), PatchError> {
    let Some(operations) = operations.as_array() else {
        return Err(PatchError("a JSON patch is a list of operations".into()));
    };
    let mut working = target.clone();
    for (i, op) in operations.iter().enumerate() {
        let field = |name: &str| {
            op.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| PatchError(format!("operation {i}: no {name:?}")))
        };
        let path = field("path")?;
        match field("op")? {
            "add" => add(&mut working, path, value_of(op, i)?)?,
            "remove" => {
                remove(&mut working, path)?;
            }
            "replace" => {
                remove(&mut working, path)?;
                add(&mut working, path, value_of(op, i)?)?;
            }
            "move" => {
                let moved = remove(&mut working, field("from")?)?;
                add(&mut working, path, moved)?;
            }
            "copy" => {
                let copied = working
                    .pointer(field("from")?)
                    .cloned()
                    .ok_or_else(|| PatchError(format!("operation {i}: nothing at \"from\"")))?;
                add(&mut working, path, copied)?;
            }
            "test" => {
                if working.pointer(path) != Some(&value_of(op, i)?) {
                    return Err(PatchError(format!(
                        "operation {i}: test failed: {path} is not the value given"
                    )));
                }
            }
            other => return Err(PatchError(format!("operation {i}: unknown op {other:?}"))),
        }
    }
    *target = working;
    Ok(())
}

fn value_of(op: &Value, i: usize) -> Result<Value, PatchError> {
    op.get("value")
        .cloned()
        .ok_or_else(|| PatchError(format!("operation {i}: no \"value\"")))
}

/// Splits `/a/b/c` into the parent's pointer and the last token, unescaped.
fn split(path: &str) -> Result<(String, String), PatchError> {
    let at = path
        .rfind('/')
        .ok_or_else(|| PatchError(format!("{path:?} is not a JSON pointer")))?;
    let last = path[at + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..at].to_owned(), last))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split(path)?;
    match target.pointer_mut(&parent) {
        Some(Value::Object(map)) => {
            map.insert(last, value);
            Ok(())
        }
        Some(Value::Array(list)) => {
            let at = if last == "-" {
                list.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|&i| i <= list.len())
                    .ok_or_else(|| PatchError(format!("{path}: no such index")))?
            };
            list.insert(at, value);
            Ok(())
        }
        _ => Err(PatchError(format!("{path}: the parent does not exist"))),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, PatchError> {
    let (parent, last) = split(path)?;
    let gone = match target.pointer_mut(&parent) {
        Some(Value::Object(map)) => map.remove(&last),
        Some(Value::Array(list)) => last
            .parse::<usize>()
            .ok()
            .filter(|&i| i < list.len())
            .map(|i| list.remove(i)),
        _ => None,
    };
    gone.ok_or_else(|| PatchError(format!("{path}: nothing there to remove")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_merge_patch_merges_objects_removes_nulls_and_replaces_lists() {
        let mut job = json!({"spec": {"suspend": false, "parallelism": 2, "list": [1, 2]}});
        merge(
            &mut job,
            &json!({"spec": {"suspend": true, "parallelism": null, "list": [3]}}),
        );
        assert_eq!(job, json!({"spec": {"suspend": true, "list": [3]}}));
    }

    #[test]
    fn a_strategic_patch_merges_containers_by_name_and_honours_directives() {
        let mut ds = json!({"spec": {"template": {
            "metadata": {"labels": {"app": "m"}},
            "spec": {"containers": [
                {"name": "a", "image": "x", "env": [{"name": "K", "value": "1"}]},
                {"name": "b", "image": "y"},
            ]},
        }}});
        let patch = json!({"spec": {"template": {
            "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}},
            "spec": {
                "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [
                    {"name": "a", "env": [{"name": "L", "value": "2"}]},
                    {"name": "b", "$patch": "delete"},
                    {"name": "c", "image": "z"},
                ],
            },
        }}});
        strategic(&mut ds, &patch).unwrap();
        let template = &ds["spec"]["template"];
        assert_eq!(template["metadata"]["labels"]["app"], "m");
        assert_eq!(
            template["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
            "now"
        );
        let containers = template["spec"]["containers"].as_array().unwrap();
        let names: Vec<&str> = containers
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(containers[0]["image"], "x");
        assert_eq!(containers[0]["env"].as_array().unwrap().len(), 2);
        // A list without a merge key is replaced, as in a merge patch.
        let mut cron = json!({"spec": {"tolerations": [{"key": "a"}], "suspend": false}});
        strategic(&mut cron, &json!({"spec": {"tolerations": [{"key": "b"}]}})).unwrap();
        assert_eq!(cron["spec"]["tolerations"], json!([{"key": "b"}]));
        let mut replaced = json!({"a": {"x": 1, "y": 2}});
        strategic(&mut replaced, &json!({"a": {"$patch": "replace", "z": 3}})).unwrap();
        assert_eq!(replaced, json!({"a": {"z": 3}}));
        let mut bad = json!({"containers": [{"name": "a"}]});
        assert!(strategic(&mut bad, &json!({"containers": [{"image": "q"}]})).is_err());
    }

    #[test]
    fn a_json_patch_applies_every_operation_or_none() {
        let mut job = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"list": [1, 3]}});
        let ops = json!([
            {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
            {"op": "add", "path": "/spec/list/1", "value": 2},
            {"op": "add", "path": "/spec/list/-", "value": 4},
            {"op": "replace", "path": "/metadata/labels/a", "value": "9"},
            {"op": "test", "path": "/metadata/labels/a", "value": "9"},
            {"op": "copy", "from": "/metadata/labels/a", "path": "/metadata/labels/d"},
            {"op": "move", "from": "/metadata/labels/d", "path": "/metadata/labels/e"},
            {"op": "remove", "path": "/spec/list/0"},
        ]);
        json_patch(&mut job, &ops).unwrap();
        assert_eq!(
            job,
            json!({"metadata": {"labels": {"a": "9", "b/c": "2", "e": "9"}}, "spec": {"list": [2, 3, 4]}})
        );
        let before = job.clone();
        let failing = json!([
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "test", "path": "/spec/list/0", "value": 99},
        ]);
        assert!(json_patch(&mut job, &failing).is_err());
        assert_eq!(job, before);
        assert!(json_patch(&mut job, &json!({"op": "add"})).is_err());
        assert!(json_patch(&mut job, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    }
}

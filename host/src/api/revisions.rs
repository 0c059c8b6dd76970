//! `metadata.resourceVersion`: a number that grows with every change of
//! every object the Kubernetes API (`kube`) has shown, as Kubernetes' does.
//!
//! The store keeps no revision counter of its own (the runner writes
//! statuses in batches, and a counter every write bumps would be one more
//! contended row in a cluster), so the API numbers what it sees: an object
//! whose content differs from what was last seen of it gets the next
//! number. The numbering starts at the time the server started, in
//! microseconds, so it keeps growing across restarts; a watch from a
//! number below that start is answered `410 Expired`, as a watch from a
//! compacted revision is.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use serde_json::Value;

/// The revisions of what the API has shown.
pub struct Revisions {
    book: Mutex<Book>,
}

struct Book {
    /// The last number given.
    last: u64,
    /// Numbers below this were given by an earlier server.
    floor: u64,
    /// Per object uid: a hash of its content, and its number.
    seen: HashMap<String, (u64, u64)>,
}

impl Revisions {
    /// A book starting at `start` (the server's start, in microseconds).
    pub fn starting_at(start: u64) -> Self {
        Revisions {
            book: Mutex::new(Book {
                last: start,
                floor: start,
                seen: HashMap::new(),
            }),
        }
    }

    /// The revision of `object` (identified by `metadata.uid`, or its
    /// kind, namespace and name when it has none), numbering it if its
    /// content changed; written into `metadata.resourceVersion`.
    pub fn stamp(&self, object: &mut Value) -> u64 {
        let meta = &mut object["metadata"];
        if let Some(m) = meta.as_object_mut() {
            m.remove("resourceVersion");
        }
        let key = identity(object);
        let mut hasher = Fx(0);
        // Age-like cells change by themselves; the content is what counts.
        hash_value(object, &mut hasher);
        let hash = hasher.finish();
        let revision = {
            let mut book = self.book.lock().expect("revisions");
            match book.seen.get(&key) {
                Some(&(seen, revision)) if seen == hash => revision,
                _ => {
                    book.last += 1;
                    let revision = book.last;
                    book.seen.insert(key, (hash, revision));
                    revision
                }
            }
        };
        object["metadata"]["resourceVersion"] = Value::String(revision.to_string());
        revision
    }

    /// The newest number given: a list's `resourceVersion`.
    pub fn current(&self) -> u64 {
        self.book.lock().expect("revisions").last
    }

    /// A fresh number, for a deletion a watch reports.
    pub fn next(&self) -> u64 {
        let mut book = self.book.lock().expect("revisions");
        book.last += 1;
        book.last
    }

    /// Whether a watch may start at `revision`: not below what this server
    /// numbered.
    pub fn still_known(&self, revision: u64) -> bool {
        revision >= self.book.lock().expect("revisions").floor
    }

    /// Forgets an object that is gone.
    pub fn forget(&self, uid: &str) {
        self.book.lock().expect("revisions").seen.remove(uid);
    }
}

/// An object's identity across reads: its uid, or (for what has none,
/// such as a node or a namespace made by being used) its kind, namespace
/// and name.
pub(super) fn identity(object: &Value) -> String {
    match object["metadata"]["uid"].as_str() {
        Some(uid) => uid.to_owned(),
        None => format!(
            "{}/{}/{}",
            object["kind"].as_str().unwrap_or(""),
            object["metadata"]["namespace"].as_str().unwrap_or(""),
            object["metadata"]["name"].as_str().unwrap_or("")
        ),
    }
}

/// A word-at-a-time multiplicative hash (as rustc's Fx): telling one
/// object's contents apart needs no defence against chosen collisions,
/// and SipHash was a tenth of reading a list.
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Hashes a JSON value's content where it lies, without writing it out
/// (a list of a thousand objects is stamped on every read).
fn hash_value(value: &Value, state: &mut impl Hasher) {
    match value {
        Value::Null => 0u8.hash(state),
        Value::Bool(b) => (1u8, b).hash(state),
        Value::Number(n) => (2u8, n.as_i64(), n.as_u64(), n.as_f64().map(f64::to_bits)).hash(state),
        Value::String(s) => (3u8, s).hash(state),
        Value::Array(items) => {
            (4u8, items.len()).hash(state);
            for item in items {
                hash_value(item, state);
            }
        }
        Value::Object(map) => {
            (5u8, map.len()).hash(state);
            for (key, item) in map {
                key.hash(state);
                hash_value(item, state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_revision_grows_only_when_the_content_changes() {
        let book = Revisions::starting_at(1000);
        let mut job = json!({"kind": "Job", "metadata": {"uid": "u1", "name": "pi"}, "status": {}});
        let first = book.stamp(&mut job);
        assert_eq!(first, 1001);
        assert_eq!(job["metadata"]["resourceVersion"], "1001");
        // Stamping what it already carries changes nothing.
        assert_eq!(book.stamp(&mut job.clone()), first);
        job["status"]["succeeded"] = json!(1);
        let second = book.stamp(&mut job);
        assert!(second > first);
        let mut other = json!({"kind": "Job", "metadata": {"uid": "u2"}});
        assert!(book.stamp(&mut other) > second);
        assert_eq!(book.current(), 1003);
        assert!(book.still_known(1000));
        assert!(!book.still_known(999));
        book.forget("u1");
        assert!(book.stamp(&mut job) > 1003);
    }
}

//! Values kept between runs through `wasi:keyvalue` (`store`, `atomics`),
//! the standard interface a plugin written for wasmCloud or Spin uses. A
//! [`Bucket`] belongs to the instance's Job — or, for a Job a CronJob
//! made, to the CronJob, so each run reads what the last one left — and
//! the node keeps it across restarts. Components only.
//!
//! ```no_run
//! use wasmjob_sdk::keyvalue::Bucket;
//!
//! let bucket = Bucket::open("default")?;
//! let run = bucket.increment("runs", 1)?;
//! let last = bucket.get("cursor")?;
//! bucket.set("cursor", format!("after run {run}").as_bytes())?;
//! # Ok::<(), wasmjob_sdk::keyvalue::Error>(())
//! ```

use std::fmt;

/// The generated bindings of the `keyvalue` world.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "wasmjob:plugin/keyvalue",
        generate_all,
    });
}

use bindings::wasi::keyvalue::{atomics, store};

/// Why a key-value call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key-value store: {}", self.0)
    }
}

impl std::error::Error for Error {}

fn error(e: store::Error) -> Error {
    Error(match e {
        store::Error::NoSuchStore => "no such store: this instance has no buckets".to_owned(),
        store::Error::AccessDenied => "access denied".to_owned(),
        store::Error::Other(m) => m,
    })
}

/// A bucket of values, by key.
pub struct Bucket(store::Bucket);

impl Bucket {
    /// Opens the bucket `name` (any name; `default` by convention).
    pub fn open(name: &str) -> Result<Bucket, Error> {
        store::open(name).map(Bucket).map_err(error)
    }

    /// The value of `key`, if it has one.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.0.get(key).map_err(error)
    }

    /// Sets `key` to `value` (at most 1 MiB); kept when this returns.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.0.set(key, value).map_err(error)
    }

    /// Removes `key`.
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        self.0.delete(key).map_err(error)
    }

    /// Whether `key` has a value.
    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        self.0.exists(key).map_err(error)
    }

    /// Every key, in order.
    pub fn keys(&self) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.0.list_keys(cursor).map_err(error)?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// Adds `delta` to the decimal number `key` holds (absent: 0) in one
    /// step, so instances counting at once lose nothing; the sum.
    pub fn increment(&self, key: &str, delta: u64) -> Result<u64, Error> {
        atomics::increment(&self.0, key, delta).map_err(error)
    }
}

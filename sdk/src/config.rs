//! The instance's configuration through `wasi:config/store`, the standard
//! interface a plugin written for Spin or wasmCloud reads its settings
//! with. wasmjob's store is the instance's environment: its container's
//! `env` and `envFrom`, so a ConfigMap's or Secret's keys arrive as they
//! arrive in a container, plus the variables wasmjob sets (`JOB_NAME`, …).
//! Components only.
//!
//! ```no_run
//! let url = wasmjob_sdk::config::get("REPORT_URL")?.unwrap_or_default();
//! # Ok::<(), wasmjob_sdk::config::Error>(())
//! ```

use std::fmt;

/// The generated bindings of the `config` world.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "wasmjob:plugin/config",
        generate_all,
    });
}

use bindings::wasi::config::store;

/// The store could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read the configuration: {}", self.0)
    }
}

impl std::error::Error for Error {}

fn error(e: store::Error) -> Error {
    Error(match e {
        store::Error::Upstream(m) | store::Error::Io(m) => m,
    })
}

/// The value of `key`, if the configuration has it.
pub fn get(key: &str) -> Result<Option<String>, Error> {
    store::get(key).map_err(error)
}

/// Every key and its value.
pub fn all() -> Result<Vec<(String, String)>, Error> {
    store::get_all().map_err(error)
}

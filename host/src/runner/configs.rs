//! This node's ConfigMaps and Secrets as its attempts read them: from the
//! node's own store file, on a connection of their own (attempts that wait
//! for one look from the executor's threads), Secrets opened with the
//! node's key. In a cluster the file holds what was applied through this
//! node and what the node follows from the cluster's database (see
//! `cluster::follow`), so a node cut off from it still starts its
//! instances with the values it last saw.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::executor::references::ConfigSource;
use crate::manifest::{Config, Kind};
use crate::secrets::Keyring;
use crate::store::Store;

/// The ConfigMaps and Secrets of one store file.
pub(super) struct StoredConfigs {
    path: PathBuf,
    store: OnceLock<Result<Mutex<Store>, String>>,
    keyring: Arc<Keyring>,
}

impl StoredConfigs {
    /// Those of the store at `path`; the connection is opened at the first
    /// look (most templates refer to nothing).
    pub(super) fn new(path: &Path, keyring: Arc<Keyring>) -> StoredConfigs {
        StoredConfigs {
            path: path.to_path_buf(),
            store: OnceLock::new(),
            keyring,
        }
    }
}

impl ConfigSource for StoredConfigs {
    fn config(&self, kind: Kind, namespace: &str, name: &str) -> Result<Option<Config>, String> {
        let store = self.store.get_or_init(|| {
            Store::open_readonly(&self.path)
                .map(Mutex::new)
                .map_err(|e| e.to_string())
        });
        let store = store.as_ref().map_err(Clone::clone)?;
        let record = {
            let store = store.lock().expect("config store");
            store.live_object(kind, namespace, name)
        };
        let Some(record) = record.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let manifest = self.keyring.open(kind, record.manifest)?;
        Config::from_stored(kind, &manifest).map(Some)
    }
}

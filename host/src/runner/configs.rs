//! This node's ConfigMaps, Secrets and NetworkPolicies as its attempts
//! read them: from the
//! node's own store file, on a connection of their own (attempts that wait
//! for one look from the executor's threads), Secrets opened with the
//! node's key. In a cluster the file holds what was applied through this
//! node and what the node follows from the cluster's database (see
//! `cluster::follow`), so a node cut off from it still starts its
//! instances with the values it last saw.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::executor::references::ConfigSource;
use crate::manifest::network::NetworkPolicySpec;
use crate::manifest::{Config, Kind};
use crate::secrets::Keyring;
use crate::store::{Store, commits};

/// The NetworkPolicies of each namespace as last read, and the count of
/// object commits they were read at (see [`commits::objects_generation`]):
/// every attempt of a component asks, and policies change seldom.
type Policies = (u64, HashMap<String, Arc<Vec<NetworkPolicySpec>>>);

/// The ConfigMaps, Secrets and NetworkPolicies of one store file.
pub(super) struct StoredConfigs {
    path: PathBuf,
    store: OnceLock<Result<Mutex<Store>, String>>,
    keyring: Arc<Keyring>,
    policies: Mutex<Policies>,
}

impl StoredConfigs {
    /// Those of the store at `path`; the connection is opened at the first
    /// look (most templates refer to nothing).
    pub(super) fn new(path: &Path, keyring: Arc<Keyring>) -> StoredConfigs {
        StoredConfigs {
            path: path.to_path_buf(),
            store: OnceLock::new(),
            keyring,
            policies: Mutex::new((u64::MAX, HashMap::new())),
        }
    }

    fn store(&self) -> Result<&Mutex<Store>, String> {
        let store = self.store.get_or_init(|| {
            Store::open_readonly(&self.path)
                .map(Mutex::new)
                .map_err(|e| e.to_string())
        });
        store.as_ref().map_err(Clone::clone)
    }
}

impl ConfigSource for StoredConfigs {
    fn config(&self, kind: Kind, namespace: &str, name: &str) -> Result<Option<Config>, String> {
        let store = self.store()?;
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

    fn network_policies(&self, namespace: &str) -> Result<Arc<Vec<NetworkPolicySpec>>, String> {
        // Read before the store is: a change committed meanwhile makes the
        // next attempt read again.
        let generation = commits::objects_generation();
        let mut cache = self.policies.lock().expect("policies");
        if cache.0 != generation {
            *cache = (generation, HashMap::new());
        }
        if let Some(found) = cache.1.get(namespace) {
            return Ok(found.clone());
        }
        let records = {
            let store = self.store()?.lock().expect("config store");
            store.live_objects(Kind::NetworkPolicy, Some(namespace))
        };
        let mut specs = Vec::new();
        for record in records.map_err(|e| e.to_string())? {
            let config = Config::from_stored(Kind::NetworkPolicy, &record.manifest)?;
            specs.extend(config.network);
        }
        let specs = Arc::new(specs);
        cache.1.insert(namespace.to_owned(), specs.clone());
        Ok(specs)
    }
}

//! `wasi:keyvalue` (`store`, `atomics`, `batch`, 0.2.0-draft) for
//! components: the interfaces a plugin written for wasmCloud or Spin keeps
//! values with. Every bucket an instance opens belongs to its Job, or to
//! its CronJob for a Job a CronJob created, so one run leaves a cursor the
//! next run reads (see `store::keyvalue` for where it is kept). What backs
//! it is a [`KeyValueStore`] bound to that owner; an instance without one
//! (a `wasmjob run` of a bare module, say) opens no bucket.

use std::pin::Pin;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// The generated bindings of the `keyvalue` world (the `job` world's
/// bindings use them). Their docs are the WIT file's.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasmjob:plugin/keyvalue",
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
        },
        imports: { default: async },
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};

/// The largest value a key may hold.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// The longest key or bucket name.
pub const MAX_KEY_BYTES: usize = 1024;

/// Keys a `list-keys` call returns at most; its cursor asks for the next.
pub const KEYS_PER_PAGE: u64 = 1000;

/// What a [`KeyValueStore`] answers: a message for the guest when it
/// fails.
pub type Reply<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// The values of one owner (a Job, a CronJob or a DaemonSet), by bucket
/// and key: in the node's file, or in Redis.
pub trait KeyValueStore: Send + Sync {
    /// The value of `key`.
    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> Reply<'a, Option<Vec<u8>>>;
    /// Sets `key` to `value`, durably.
    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: &'a [u8]) -> Reply<'a, ()>;
    /// Removes `key` (absent: nothing happens).
    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> Reply<'a, ()>;
    /// At most `limit` keys in order, from the `offset`th.
    fn keys<'a>(&'a self, bucket: &'a str, offset: u64, limit: u64) -> Reply<'a, Vec<String>>;
    /// Adds `delta` to the number `key` holds (absent: 0) in one step;
    /// the sum.
    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: u64) -> Reply<'a, u64>;
}

/// A bucket an instance opened: its name.
pub struct Bucket {
    name: String,
}

/// One instance's view of its key-value store, as the bindings call it.
pub struct KeyValue<'a> {
    table: &'a mut ResourceTable,
    store: Option<&'a Arc<dyn KeyValueStore>>,
}

impl<'a> KeyValue<'a> {
    /// The view over `store` (none: no bucket opens) whose buckets live in
    /// `table`.
    pub fn new(table: &'a mut ResourceTable, store: Option<&'a Arc<dyn KeyValueStore>>) -> Self {
        KeyValue { table, store }
    }

    fn bucket(
        &self,
        bucket: &Resource<Bucket>,
    ) -> Result<(String, &'a Arc<dyn KeyValueStore>), store::Error> {
        let name = (self.table.get(bucket))
            .map_err(|e| store::Error::Other(e.to_string()))?
            .name
            .clone();
        let store = self.store.ok_or(store::Error::NoSuchStore)?;
        Ok((name, store))
    }
}

fn other(message: String) -> store::Error {
    store::Error::Other(message)
}

fn check_key(key: &str) -> Result<(), store::Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(other(format!(
            "the key is {} bytes long, more than the {MAX_KEY_BYTES} a key may have",
            key.len()
        )));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), store::Error> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(other(format!(
            "the value is {} bytes, more than the {MAX_VALUE_BYTES} (1 MiB) a value may have",
            value.len()
        )));
    }
    Ok(())
}

impl store::Host for KeyValue<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, store::Error> {
        if self.store.is_none() {
            return Err(store::Error::NoSuchStore);
        }
        check_key(&identifier)?;
        (self.table.push(Bucket { name: identifier })).map_err(|e| other(e.to_string()))
    }
}

impl store::HostBucket for KeyValue<'_> {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, store::Error> {
        let (name, store) = self.bucket(&bucket)?;
        store.get(&name, &key).await.map_err(other)
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), store::Error> {
        check_key(&key)?;
        check_value(&value)?;
        let (name, store) = self.bucket(&bucket)?;
        store.set(&name, &key, &value).await.map_err(other)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), store::Error> {
        let (name, store) = self.bucket(&bucket)?;
        store.delete(&name, &key).await.map_err(other)
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<bool, store::Error> {
        let (name, store) = self.bucket(&bucket)?;
        store
            .get(&name, &key)
            .await
            .map(|v| v.is_some())
            .map_err(other)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, store::Error> {
        let (name, store) = self.bucket(&bucket)?;
        let offset = cursor.unwrap_or(0);
        let keys = store
            .keys(&name, offset, KEYS_PER_PAGE)
            .await
            .map_err(other)?;
        let next = (keys.len() as u64 == KEYS_PER_PAGE).then_some(offset + KEYS_PER_PAGE);
        Ok(store::KeyResponse { keys, cursor: next })
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KeyValue<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, store::Error> {
        check_key(&key)?;
        let (name, store) = self.bucket(&bucket)?;
        store.increment(&name, &key, delta).await.map_err(other)
    }
}

impl batch::Host for KeyValue<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, store::Error> {
        let (name, store) = self.bucket(&bucket)?;
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            let value = store.get(&name, &key).await.map_err(other)?;
            found.push(value.map(|v| (key, v)));
        }
        Ok(found)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        let (name, store) = self.bucket(&bucket)?;
        for (key, value) in &key_values {
            check_key(key)?;
            check_value(value)?;
            store.set(&name, key, value).await.map_err(other)?;
        }
        Ok(())
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), store::Error> {
        let (name, store) = self.bucket(&bucket)?;
        for key in &keys {
            store.delete(&name, key).await.map_err(other)?;
        }
        Ok(())
    }
}

struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValue<'a>;
}

/// Links the three interfaces, each instance's view made by `view`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KeyValue<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasKeyValue>(linker, view)?;
    atomics::add_to_linker::<T, HasKeyValue>(linker, view)?;
    batch::add_to_linker::<T, HasKeyValue>(linker, view)?;
    Ok(())
}

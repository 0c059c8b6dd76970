//! Plugin checkpoints: the last bytes a Job's instance saved for its
//! completion index, on a connection of their own (see `side`): most Jobs
//! run core modules, which cannot checkpoint, and open none.

use std::path::Path;
use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use super::StoreError;
use super::side::SideConnection;
use crate::runtime::CheckpointSink;
use crate::time;

/// Checkpoints of every Job in one store file.
pub struct Checkpoints {
    conn: SideConnection,
}

fn index_key(index: Option<u32>) -> i64 {
    index.map_or(-1, i64::from)
}

impl Checkpoints {
    /// The checkpoints of the store at `path` (already migrated by
    /// [`super::Store::open`]).
    pub fn open(path: &Path) -> Result<Checkpoints, StoreError> {
        Ok(Checkpoints {
            conn: SideConnection::new(path),
        })
    }

    /// The checkpoint of a Job and index.
    pub fn load(&self, job_uid: &str, index: Option<u32>) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.conn.lock()?;
        conn.prepare_cached(
            "SELECT data FROM checkpoints WHERE job_uid = ?1 AND completion_index = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![job_uid, index_key(index)], |r| r.get(0))
                .optional()
        })
        .map_err(|e| self.conn.error(e))
    }

    /// Replaces the checkpoint of a Job and index.
    pub fn save(&self, job_uid: &str, index: Option<u32>, data: &[u8]) -> Result<(), StoreError> {
        let conn = self.conn.lock()?;
        conn.prepare_cached(
            "INSERT INTO checkpoints (job_uid, completion_index, data, saved_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (job_uid, completion_index) DO UPDATE SET data = excluded.data, saved_at = excluded.saved_at",
        )
        .and_then(|mut s| s.execute(params![job_uid, index_key(index), data, time::now()]))
        .map(drop)
        .map_err(|e| self.conn.error(e))
    }

    /// A sink bound to one Job and index, for an instance's sandbox.
    pub fn sink(self: &Arc<Self>, job_uid: &str, index: Option<u32>) -> Arc<dyn CheckpointSink> {
        Arc::new(BoundCheckpoint {
            store: self.clone(),
            job_uid: job_uid.to_owned(),
            index,
        })
    }
}

struct BoundCheckpoint {
    store: Arc<Checkpoints>,
    job_uid: String,
    index: Option<u32>,
}

impl CheckpointSink for BoundCheckpoint {
    fn save(&self, data: &[u8]) -> Result<(), String> {
        self.store
            .save(&self.job_uid, self.index, data)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_save_per_job_and_index_is_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        super::super::Store::open(&path).unwrap();
        let checkpoints = Arc::new(Checkpoints::open(&path).unwrap());
        assert_eq!(checkpoints.load("job", Some(1)).unwrap(), None);
        checkpoints.sink("job", Some(1)).save(b"3").unwrap();
        checkpoints.sink("job", Some(1)).save(b"4").unwrap();
        checkpoints.sink("job", None).save(b"x").unwrap();
        assert_eq!(
            checkpoints.load("job", Some(1)).unwrap(),
            Some(b"4".to_vec())
        );
        assert_eq!(checkpoints.load("job", None).unwrap(), Some(b"x".to_vec()));
        assert_eq!(checkpoints.load("other", Some(1)).unwrap(), None);
    }
}

//! Versioned schema migrations, tracked in SQLite's `user_version`.
//!
//! Each entry upgrades the schema by one version inside one transaction. A
//! database written by a newer wasmjob is refused rather than rewritten.

/// The migrations in order; `MIGRATIONS[i]` takes version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: objects, instances, logs, events, modules.
    r#"
    CREATE TABLE modules (
        digest      TEXT PRIMARY KEY,
        component   INTEGER NOT NULL,
        bytes       BLOB NOT NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE objects (
        uid         TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        namespace   TEXT NOT NULL,
        name        TEXT NOT NULL,
        labels      TEXT NOT NULL,
        manifest    TEXT NOT NULL,
        status      TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        deleted_at  INTEGER
    );
    -- One live object per kind, namespace and name; deleted ones stay as history.
    CREATE UNIQUE INDEX objects_live ON objects(kind, namespace, name) WHERE deleted_at IS NULL;
    CREATE TABLE instances (
        uid              TEXT PRIMARY KEY,
        name             TEXT NOT NULL,
        namespace        TEXT NOT NULL,
        owner_uid        TEXT NOT NULL REFERENCES objects(uid),
        completion_index INTEGER,
        labels           TEXT NOT NULL,
        phase            TEXT NOT NULL,
        exit_code        INTEGER,
        reason           TEXT,
        message          TEXT,
        node_name        TEXT NOT NULL,
        restart_count    INTEGER NOT NULL DEFAULT 0,
        created_at       INTEGER NOT NULL,
        start_time       INTEGER,
        finish_time      INTEGER
    );
    CREATE INDEX instances_owner ON instances(owner_uid);
    CREATE INDEX instances_name ON instances(namespace, name);
    -- One row per attempt: an instance restarted in place keeps every attempt's log.
    CREATE TABLE logs (
        instance_uid TEXT NOT NULL REFERENCES instances(uid),
        attempt      INTEGER NOT NULL,
        data         BLOB NOT NULL,
        truncated    INTEGER NOT NULL,
        PRIMARY KEY (instance_uid, attempt)
    );
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY,
        object_uid  TEXT NOT NULL,
        type        TEXT NOT NULL,
        reason      TEXT NOT NULL,
        message     TEXT NOT NULL,
        time        INTEGER NOT NULL
    );
    CREATE INDEX events_object ON events(object_uid);
    "#,
    // 2: ttlSecondsAfterFinished: when a finished object is to be deleted.
    r#"
    ALTER TABLE objects ADD COLUMN expires_at INTEGER;
    CREATE INDEX objects_expiry ON objects(expires_at) WHERE expires_at IS NOT NULL AND deleted_at IS NULL;
    "#,
    // 3: CronJob runs: one row per (CronJob, scheduled time), which is what
    // makes a scheduled time run at most once, whatever restarts or races.
    r#"
    CREATE TABLE cron_runs (
        cronjob_uid    TEXT NOT NULL REFERENCES objects(uid),
        scheduled_time INTEGER NOT NULL,
        job_uid        TEXT,
        PRIMARY KEY (cronjob_uid, scheduled_time)
    );
    "#,
    // 4: plugin interfaces and the embedded queue: checkpoints per (Job, completion index; -1 when
    // not indexed), and structured log records beside each attempt's log.
    r#"
    CREATE TABLE checkpoints (
        job_uid          TEXT NOT NULL,
        completion_index INTEGER NOT NULL,
        data             BLOB NOT NULL,
        saved_at         INTEGER NOT NULL,
        PRIMARY KEY (job_uid, completion_index)
    );
    CREATE TABLE log_records (
        instance_uid TEXT NOT NULL,
        attempt      INTEGER NOT NULL,
        seq          INTEGER NOT NULL,
        time         INTEGER NOT NULL,
        level        TEXT NOT NULL,
        message      TEXT NOT NULL,
        fields       TEXT NOT NULL,
        PRIMARY KEY (instance_uid, attempt, seq)
    );
    -- The embedded work queue. A leased item has a token; it is taken until
    -- lease_until (NULL: held by `holder`, an instance, until it ends).
    CREATE TABLE queue_items (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        queue       TEXT NOT NULL,
        body        BLOB NOT NULL,
        pushed_at   INTEGER NOT NULL,
        token       TEXT,
        lease_until INTEGER,
        holder      TEXT
    );
    CREATE INDEX queue_items_next ON queue_items(queue, id);
    CREATE INDEX queue_items_holder ON queue_items(holder) WHERE holder IS NOT NULL;
    "#,
    // 5: DaemonSet instances that a rolling update or a node change removed:
    // gone from `get instances`, their rows and logs kept as history.
    r#"
    ALTER TABLE instances ADD COLUMN deleted_at INTEGER;
    "#,
    // 6: an instance's first attempt's output in its own row. A Job of ten
    // thousand tiny instances wrote a `logs` row (and its key's index entry)
    // beside every instance row; now it writes one row. Restarted attempts,
    // and rows written before this version, keep their logs in `logs`;
    // `attempt_logs` reads every attempt's log wherever it is.
    r#"
    ALTER TABLE instances ADD COLUMN log BLOB;
    ALTER TABLE instances ADD COLUMN log_truncated INTEGER;
    CREATE VIEW attempt_logs (instance_uid, attempt, data, truncated) AS
        SELECT uid, 0, log, log_truncated FROM instances WHERE log IS NOT NULL
        UNION ALL SELECT instance_uid, attempt, data, truncated FROM logs;
    "#,
    // 7: a Job's instance keeps its template's labels and the Job's name;
    // the labels naming the Job follow from them (see `store::labels`).
    // One index on (owner, name) instead of one on each: a Job's instances
    // are found by their owner, an instance by name under each live owner.
    r#"
    ALTER TABLE instances ADD COLUMN labels_job TEXT;
    CREATE INDEX instances_owner_name ON instances(owner_uid, name);
    DROP INDEX instances_owner;
    DROP INDEX instances_name;
    "#,
    // 8: a cluster node's file is the truth about what the node runs; what
    // the cluster's database has not seen yet waits in `outbox` (one row
    // per record to send, its latest state read when it is sent: a record
    // written again before then moves to the end and is sent once).
    // `node_settings` remembers that this file's node has joined a cluster,
    // so it may start while the cluster's database does not answer. A
    // work-queue item offered with an instance is kept with it until sent.
    // An object the node keeps a copy of without owning it (a DaemonSet it
    // follows, another node's Job it runs instances of) is a `mirror`: it
    // is not resumed as the node's own. An instance of a Job spread over a
    // cluster may be a link of a chain (`store::ChainLink`).
    r#"
    CREATE TABLE outbox (
        seq  INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        key  TEXT NOT NULL,
        UNIQUE (kind, key)
    );
    CREATE TABLE node_settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    ALTER TABLE instances ADD COLUMN stdin BLOB;
    ALTER TABLE objects ADD COLUMN mirror INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE instances ADD COLUMN chain_head TEXT;
    ALTER TABLE instances ADD COLUMN chain_budget INTEGER;
    "#,
    // 9: when each line of an attempt's output began (`runtime::line_times`),
    // beside the output, for `logs --timestamps` and `--since`. Rows
    // written before have none.
    r#"
    ALTER TABLE instances ADD COLUMN log_times BLOB;
    ALTER TABLE logs ADD COLUMN times BLOB;
    DROP VIEW attempt_logs;
    CREATE VIEW attempt_logs (instance_uid, attempt, data, truncated, times) AS
        SELECT uid, 0, log, log_truncated, log_times FROM instances WHERE log IS NOT NULL
        UNION ALL SELECT instance_uid, attempt, data, truncated, times FROM logs;
    "#,
    // 10: `wasi:keyvalue`'s values, by owner (`Job/NS/NAME`,
    // `CronJob/NS/NAME`, `DaemonSet/NS/NAME`), bucket and key.
    r#"
    CREATE TABLE keyvalue (
        scope      TEXT NOT NULL,
        bucket     TEXT NOT NULL,
        key        TEXT NOT NULL,
        value      BLOB NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (scope, bucket, key)
    ) WITHOUT ROWID;
    "#,
];

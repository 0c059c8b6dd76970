//! The cluster database's schema and its migrations, one node at a time.

use postgres::Client;

use super::{StoreError, pg_error, redact};

/// The schema, one entry per version; `SCHEMA[i]` takes version `i` to `i + 1`.
pub(super) const SCHEMA: &[&str] = &[
    r#"
    CREATE TABLE modules (
        digest      TEXT PRIMARY KEY,
        component   BOOLEAN NOT NULL,
        bytes       BYTEA NOT NULL,
        created_at  BIGINT NOT NULL
    );
    CREATE TABLE objects (
        uid         TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        namespace   TEXT NOT NULL,
        name        TEXT NOT NULL,
        labels      TEXT NOT NULL,
        manifest    TEXT NOT NULL,
        status      TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        deleted_at  BIGINT,
        expires_at  BIGINT,
        -- The node that runs this Job or CronJob now (NULL: none yet).
        owner_node  TEXT,
        -- Grows with every manifest change, so the owner sees an update
        -- applied through another node.
        generation  BIGINT NOT NULL DEFAULT 1,
        -- A Job that is Complete or Failed: nobody needs to own it.
        finished    BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE UNIQUE INDEX objects_live ON objects(kind, namespace, name) WHERE deleted_at IS NULL;
    CREATE INDEX objects_owner ON objects(owner_node) WHERE deleted_at IS NULL AND NOT finished;
    CREATE TABLE instances (
        uid              TEXT PRIMARY KEY,
        name             TEXT NOT NULL,
        namespace        TEXT NOT NULL,
        owner_uid        TEXT NOT NULL,
        completion_index BIGINT,
        labels           TEXT NOT NULL,
        phase            TEXT NOT NULL,
        exit_code        INTEGER,
        reason           TEXT,
        message          TEXT,
        node_name        TEXT NOT NULL,
        restart_count    BIGINT NOT NULL DEFAULT 0,
        created_at       BIGINT NOT NULL,
        start_time       BIGINT,
        finish_time      BIGINT,
        deleted_at       BIGINT
    );
    CREATE INDEX instances_owner ON instances(owner_uid);
    CREATE INDEX instances_name ON instances(namespace, name);
    CREATE INDEX instances_unfinished ON instances(node_name) WHERE finish_time IS NULL;
    CREATE TABLE logs (
        instance_uid TEXT NOT NULL,
        attempt      BIGINT NOT NULL,
        data         BYTEA NOT NULL,
        truncated    BOOLEAN NOT NULL,
        PRIMARY KEY (instance_uid, attempt)
    );
    CREATE TABLE events (
        id          BIGSERIAL PRIMARY KEY,
        object_uid  TEXT NOT NULL,
        type        TEXT NOT NULL,
        reason      TEXT NOT NULL,
        message     TEXT NOT NULL,
        time        BIGINT NOT NULL
    );
    CREATE INDEX events_object ON events(object_uid);
    -- One row per (CronJob, scheduled time): a scheduled time runs at most
    -- once in the whole cluster.
    CREATE TABLE cron_runs (
        cronjob_uid    TEXT NOT NULL,
        scheduled_time BIGINT NOT NULL,
        job_uid        TEXT,
        PRIMARY KEY (cronjob_uid, scheduled_time)
    );
    CREATE TABLE log_records (
        instance_uid TEXT NOT NULL,
        attempt      BIGINT NOT NULL,
        seq          BIGINT NOT NULL,
        time         BIGINT NOT NULL,
        level        TEXT NOT NULL,
        message      TEXT NOT NULL,
        fields       TEXT NOT NULL,
        PRIMARY KEY (instance_uid, attempt, seq)
    );
    -- Cluster-wide settings: the API token every node answers to.
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE nodes (
        name         TEXT PRIMARY KEY,
        labels       TEXT NOT NULL,
        capacity     BIGINT NOT NULL,
        version      TEXT NOT NULL,
        address      TEXT NOT NULL,
        joined_at    BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL
    );
"#,
    // 2: instances offered to the cluster (Pending) are found by an index,
    // however long the history.
    r#"
    CREATE INDEX instances_offered ON instances(owner_uid) WHERE phase = 'Pending';
"#,
    // 3: a work-queue item offered with its instance, for the node that
    // claims it (stdin mode).
    r#"
    ALTER TABLE instances ADD COLUMN stdin BYTEA;
"#,
    // 4: local-first nodes. A Job's or CronJob's owner holds it while its
    // heartbeat is younger than the object's `lost_after` (its
    // `spec.disconnect.lostAfter`, or the taker's grace); another node
    // takes it only after that, never when it is `pinned`, and
    // `lease_epoch` counts the owners. A record a node sends may not undo
    // what another node decided: an instance's end says who wrote it
    // (`ended_by`), and each node's events carry their origin so that
    // sending one twice keeps one.
    r#"
    ALTER TABLE objects ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE objects ADD COLUMN lost_after BIGINT;
    ALTER TABLE objects ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT FALSE;
    ALTER TABLE instances ADD COLUMN ended_by TEXT;
    ALTER TABLE events ADD COLUMN origin TEXT;
    CREATE UNIQUE INDEX events_origin ON events(origin) WHERE origin IS NOT NULL;
"#,
    // 5: chains, and reading what changed. An instance may be a link of a
    // chain (`chain_head`, `chain_budget`). Every write of an instance's
    // row takes the next `change`, so a Job's owner reads only what changed
    // since it last looked — which is sound only if changes become visible
    // in their order: a transaction that writes instances first takes
    // `CHANGE_LOCK` (held to its commit), so one with a smaller change
    // never commits after a reader saw a larger one. The index by change
    // also finds a Job's instances, so the one by owner alone goes (one
    // index entry fewer for each instance row written).
    r#"
    ALTER TABLE instances ADD COLUMN chain_head TEXT;
    ALTER TABLE instances ADD COLUMN chain_budget BIGINT;
    CREATE SEQUENCE instance_changes;
    ALTER TABLE instances ADD COLUMN change BIGINT NOT NULL DEFAULT nextval('instance_changes');
    CREATE INDEX instances_changes ON instances(owner_uid, change);
    DROP INDEX instances_owner;
    CREATE FUNCTION wasmjob_change_order() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_advisory_xact_lock(8604799338007127909); RETURN NULL; END $$;
    CREATE TRIGGER instances_change_order BEFORE INSERT OR UPDATE ON instances
        FOR EACH STATEMENT EXECUTE FUNCTION wasmjob_change_order();
"#,
    // 6: node taints (`taint node`) and the extended resources a node
    // advertises (`serve --resources`), as JSON, beside the labels.
    r#"
    ALTER TABLE nodes ADD COLUMN taints TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE nodes ADD COLUMN resources TEXT NOT NULL DEFAULT '{}';
"#,
    // 7: when each line of an attempt's output began (see
    // `runtime::line_times`); rows written before have none.
    r#"
    ALTER TABLE logs ADD COLUMN times BYTEA;
"#,
    // 8: each node's share of its namespaces' quotas on instances at once
    // and their memory limits (see `access::quota_share`).
    r#"
    CREATE TABLE quota_shares (
        namespace TEXT NOT NULL,
        node      TEXT NOT NULL,
        pods      BIGINT NOT NULL,
        memory    BIGINT NOT NULL,
        PRIMARY KEY (namespace, node)
    );
"#,
];

/// The advisory lock every transaction that writes instances' rows holds
/// from its first such write (or its start) to its commit (see migration
/// 5): `wjchange` in ASCII.
pub(super) const CHANGE_LOCK: i64 = 8_604_799_338_007_127_909;

/// Takes [`CHANGE_LOCK`] at the start of a transaction that writes
/// instances after other rows: taken before those rows' locks, it cannot
/// deadlock with a transaction that holds it and writes them next.
pub(super) fn order_changes(tx: &mut postgres::Transaction<'_>) -> Result<(), postgres::Error> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHANGE_LOCK])?;
    Ok(())
}

/// Any constant: the advisory lock that lets one node migrate at a time.
pub(super) const MIGRATION_LOCK: i64 = 0x0077_6173_6d6a_6f62;

/// Brings the schema of the database behind `client` to the newest, one
/// node at a time; refuses a database a newer wasmjob made.
pub(super) fn migrate(client: &mut Client, url: &str) -> Result<(), StoreError> {
    let wrap = |source| pg_error(url, source);
    let mut tx = client.transaction().map_err(wrap)?;
    // Three nodes starting at once: one migrates, the others wait.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(wrap)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS wasmjob_schema (version BIGINT NOT NULL)")
        .map_err(wrap)?;
    let found: Option<i64> = tx
        .query_opt("SELECT version FROM wasmjob_schema", &[])
        .map_err(wrap)?
        .map(|r| r.get(0));
    let known = SCHEMA.len() as i64;
    if let Some(found) = found
        && found > known
    {
        return Err(StoreError::TooNew {
            path: redact(url).into(),
            found,
            known,
        });
    }
    let found = found.unwrap_or(0);
    for sql in SCHEMA.iter().skip(found as usize) {
        tx.batch_execute(sql).map_err(wrap)?;
    }
    let set = if found == 0 {
        "INSERT INTO wasmjob_schema (version) VALUES ($1)"
    } else {
        "UPDATE wasmjob_schema SET version = $1"
    };
    tx.execute(set, &[&known]).map_err(wrap)?;
    tx.commit().map_err(wrap)
}

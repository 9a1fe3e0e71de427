-- gcprov store schema v1 (SQLite). Times are microseconds since the Unix epoch (UTC).

-- Tamper-evident audit log. hash = SHA-256(prev_hash bytes || canonical encoding of the entry).
CREATE TABLE audit_log (
    seq             INTEGER PRIMARY KEY,
    ts_us           INTEGER NOT NULL,
    actor           TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    targets         TEXT    NOT NULL,
    request_id      TEXT,
    correlation_ids TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    detail          TEXT    NOT NULL,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL
);
CREATE INDEX audit_log_ts ON audit_log (ts_us);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);

-- One row per (target, entry) so `--target` filters are index lookups.
CREATE TABLE audit_target (
    target TEXT    NOT NULL,
    seq    INTEGER NOT NULL,
    PRIMARY KEY (target, seq)
);

-- The chain head: the single row every append locks and advances.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Delivery outbox, written in the same transaction as the audit entry that caused each event.
CREATE TABLE outbox (
    pos             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    audit_seq       INTEGER NOT NULL,
    kind            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_us INTEGER NOT NULL,
    locked_until_us INTEGER,
    locked_by       TEXT,
    delivered_sinks TEXT    NOT NULL DEFAULT '[]',
    last_error      TEXT,
    created_us      INTEGER NOT NULL,
    delivered_us    INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_us, pos);
CREATE INDEX outbox_audit_seq ON outbox (audit_seq);

-- Idempotency keys of incoming requests (SCIM edge).
CREATE TABLE idempotency_key (
    key          TEXT    PRIMARY KEY,
    request_hash TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT    NOT NULL,
    created_us   INTEGER NOT NULL,
    expires_us   INTEGER NOT NULL
);
CREATE INDEX idempotency_key_expires ON idempotency_key (expires_us);

-- IdP identity <-> Genesys id.
CREATE TABLE identity_map (
    idp        TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    idp_id     TEXT    NOT NULL,
    genesys_id TEXT    NOT NULL,
    updated_us INTEGER NOT NULL,
    PRIMARY KEY (idp, kind, idp_id)
);
CREATE INDEX identity_map_genesys ON identity_map (kind, genesys_id);

-- Reconciler checkpoints (resumable plan/apply).
CREATE TABLE reconcile_checkpoint (
    name       TEXT    PRIMARY KEY,
    state      TEXT    NOT NULL,
    updated_us INTEGER NOT NULL
);

-- Read model of the org's users and groups (SCIM filters become index lookups).
CREATE TABLE rm_user (
    id              TEXT    PRIMARY KEY,
    user_name       TEXT    NOT NULL,
    user_name_lc    TEXT    NOT NULL,
    external_id     TEXT,
    display_name    TEXT,
    display_name_lc TEXT,
    active          BOOLEAN NOT NULL,
    version         INTEGER NOT NULL,
    resource        TEXT    NOT NULL,
    updated_us      INTEGER NOT NULL
);
CREATE INDEX rm_user_user_name_lc ON rm_user (user_name_lc);
CREATE INDEX rm_user_external_id ON rm_user (external_id);
CREATE INDEX rm_user_display_name_lc ON rm_user (display_name_lc);

CREATE TABLE rm_user_email (
    user_id    TEXT    NOT NULL,
    value_lc   TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    type       TEXT,
    is_primary BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, value_lc)
);
CREATE INDEX rm_user_email_value_lc ON rm_user_email (value_lc);

CREATE TABLE rm_group (
    id              TEXT    PRIMARY KEY,
    display_name    TEXT    NOT NULL,
    display_name_lc TEXT    NOT NULL,
    external_id     TEXT,
    version         INTEGER NOT NULL,
    resource        TEXT    NOT NULL,
    updated_us      INTEGER NOT NULL
);
CREATE INDEX rm_group_display_name_lc ON rm_group (display_name_lc);
CREATE INDEX rm_group_external_id ON rm_group (external_id);

CREATE TABLE rm_group_member (
    group_id  TEXT NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX rm_group_member_member ON rm_group_member (member_id);

"""The catalog's SQLite schema. One file, ``.agentfs/catalog.sqlite``, in WAL mode."""

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per namespace entry. Deleting sets `deleted` (a tombstone) and keeps the row, so a
-- later write or restore at the same path continues the same version history.
CREATE TABLE IF NOT EXISTS nodes (
    id          INTEGER PRIMARY KEY,      -- also the inode number on the mount (stable across renames)
    path        TEXT NOT NULL,
    parent      TEXT NOT NULL,
    kind        TEXT NOT NULL,            -- file | dir | symlink
    version     INTEGER NOT NULL,
    hash        TEXT,                     -- sha256 of the content (of the link target for symlinks)
    size        INTEGER NOT NULL DEFAULT 0,
    tokens      INTEGER,
    mode        INTEGER NOT NULL,
    owner       TEXT NOT NULL,
    author      TEXT NOT NULL,
    created_ns  INTEGER NOT NULL,
    modified_ns INTEGER NOT NULL,
    meta        TEXT NOT NULL DEFAULT '{}',   -- user metadata: front matter, or a sidecar for non-Markdown
    provenance  TEXT,                         -- JSON list of {"path", "version"} this file was derived from
    deleted     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS nodes_live_path ON nodes(path) WHERE deleted = 0;
CREATE INDEX IF NOT EXISTS nodes_parent ON nodes(parent) WHERE deleted = 0;
CREATE INDEX IF NOT EXISTS nodes_any_path ON nodes(path, id);

-- Every commit is an immutable version row; content lives in objects/ by hash.
CREATE TABLE IF NOT EXISTS versions (
    node_id    INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    op         TEXT NOT NULL,             -- create | write | append | meta | delete | rename | restore | mkdir
    path       TEXT NOT NULL,
    old_path   TEXT,
    kind       TEXT NOT NULL,
    hash       TEXT,
    size       INTEGER NOT NULL DEFAULT 0,
    tokens     INTEGER,
    mode       INTEGER NOT NULL,
    meta       TEXT NOT NULL DEFAULT '{}',
    provenance TEXT,
    author     TEXT NOT NULL,
    time_ns    INTEGER NOT NULL,
    message    TEXT,
    PRIMARY KEY (node_id, version)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS rules (
    id         INTEGER PRIMARY KEY,
    principal  TEXT NOT NULL,
    actions    TEXT NOT NULL,             -- comma-separated
    path       TEXT NOT NULL,
    effect     TEXT NOT NULL CHECK (effect IN ('allow', 'deny')),
    created_by TEXT NOT NULL,
    created_ns INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS members (
    principal TEXT NOT NULL,
    grp       TEXT NOT NULL,
    PRIMARY KEY (principal, grp)
);

-- Append-only: the triggers below refuse UPDATE and DELETE for every connection, and each row
-- carries a hash chained to the previous one so a rewrite of the file itself is detectable.
CREATE TABLE IF NOT EXISTS audit (
    id        INTEGER PRIMARY KEY,
    time_ns   INTEGER NOT NULL,
    principal TEXT NOT NULL,
    action    TEXT NOT NULL,
    path      TEXT NOT NULL,
    decision  TEXT NOT NULL,              -- allow | deny
    reason    TEXT NOT NULL,
    version   INTEGER,
    detail    TEXT,
    chain     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_principal ON audit(principal, time_ns);
CREATE INDEX IF NOT EXISTS audit_path ON audit(path, time_ns);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Change events for consumers in any process (the indexer); each keeps its cursor.
CREATE TABLE IF NOT EXISTS outbox (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ns  INTEGER NOT NULL,
    op       TEXT NOT NULL,
    node_id  INTEGER NOT NULL,
    path     TEXT NOT NULL,
    old_path TEXT,
    version  INTEGER NOT NULL,
    kind     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    consumer TEXT PRIMARY KEY,
    seq      INTEGER NOT NULL
);

-- Plain-tree updates committed but not yet confirmed on disk (a writer died between the two).
-- writer: the committing Store's token; .agentfs/writers/<token> is locked while it is open.
CREATE TABLE IF NOT EXISTS pending (
    node_id INTEGER PRIMARY KEY,
    writer  TEXT
);

-- Lexical index, kept in the commit transaction so words are searchable the moment they commit.
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    path, body, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""

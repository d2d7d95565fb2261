-- Plugins shared by the nodes of a cluster: the database is the truth every node loads
-- from. Only MySQL/MariaDB is ever shared by several nodes, but the two dialects keep the
-- same tables (see migrations/mysql/0009_plugins.sql).

-- Each plugin's newest revision; a removal is a revision too (removed = 1), so revisions
-- only ever grow. The manifest is its UTF-8 text as a BLOB, as on MySQL.
CREATE TABLE plugins (
    name        TEXT    PRIMARY KEY,
    revision    BIGINT  NOT NULL,
    manifest    BLOB    NOT NULL,
    sha256      TEXT    NOT NULL,
    removed     BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    updated_by  TEXT    NOT NULL
);

-- Components, once per sha256; `stored_at` is when one was last written.
CREATE TABLE plugin_components (
    sha256      TEXT    PRIMARY KEY,
    wasm        BLOB    NOT NULL,
    stored_at   BIGINT  NOT NULL
);

-- What each node runs of each plugin, with its counters, as of its last report.
CREATE TABLE plugin_nodes (
    node            TEXT    NOT NULL,
    plugin          TEXT    NOT NULL,
    revision        BIGINT  NOT NULL,
    state           TEXT    NOT NULL,
    error           TEXT,
    calls           BIGINT  NOT NULL,
    rejects         BIGINT  NOT NULL,
    rewrites        BIGINT  NOT NULL,
    errors          BIGINT  NOT NULL,
    timeouts        BIGINT  NOT NULL,
    skipped         BIGINT  NOT NULL,
    kv_evictions    BIGINT  NOT NULL,
    latency         TEXT    NOT NULL,
    latency_sum_us  BIGINT  NOT NULL,
    seen_at         BIGINT  NOT NULL,
    PRIMARY KEY (node, plugin)
);
CREATE INDEX plugin_nodes_seen ON plugin_nodes (seen_at);

-- Every node's verdicts, the newest [cluster] verdicts_kept of them.
CREATE TABLE plugin_verdicts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       BIGINT  NOT NULL,
    node        TEXT    NOT NULL,
    plugin      TEXT    NOT NULL,
    hook        TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    user_id     BIGINT  NOT NULL,
    detail      TEXT    NOT NULL,
    subject     TEXT    NOT NULL
);
CREATE INDEX plugin_verdicts_plugin ON plugin_verdicts (plugin, id);

-- Plugins shared by the nodes of a cluster: the database is the truth every node loads
-- from. See migrations/sqlite/0009_plugins.sql; keep the two in step.
--
-- Manifests and components are BLOBs: sqlx's Any driver reads TEXT as bytes, and a
-- manifest may be longer than a VARCHAR holds.

-- Each plugin's newest revision; a removal is a revision too (removed = 1), so revisions
-- only ever grow.
CREATE TABLE plugins (
    name        VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    revision    BIGINT       NOT NULL,
    manifest    MEDIUMBLOB   NOT NULL,
    sha256      VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    removed     BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    updated_by  VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Components, once per sha256; `stored_at` is when one was last written.
CREATE TABLE plugin_components (
    sha256      VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    wasm        LONGBLOB     NOT NULL,
    stored_at   BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- What each node runs of each plugin, with its counters, as of its last report.
CREATE TABLE plugin_nodes (
    node            VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    plugin          VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    revision        BIGINT       NOT NULL,
    state           VARCHAR(16)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    error           VARCHAR(1000),
    calls           BIGINT       NOT NULL,
    rejects         BIGINT       NOT NULL,
    rewrites        BIGINT       NOT NULL,
    errors          BIGINT       NOT NULL,
    timeouts        BIGINT       NOT NULL,
    skipped         BIGINT       NOT NULL,
    kv_evictions    BIGINT       NOT NULL,
    latency         VARCHAR(600) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    latency_sum_us  BIGINT       NOT NULL,
    seen_at         BIGINT       NOT NULL,
    PRIMARY KEY (node, plugin),
    KEY plugin_nodes_seen (seen_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Every node's verdicts, the newest [cluster] verdicts_kept of them.
CREATE TABLE plugin_verdicts (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at_ms       BIGINT       NOT NULL,
    node        VARCHAR(128) NOT NULL,
    plugin      VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    hook        VARCHAR(32)  NOT NULL,
    outcome     VARCHAR(16)  NOT NULL,
    user_id     BIGINT       NOT NULL,
    detail      VARCHAR(400) NOT NULL,
    subject     VARCHAR(400) NOT NULL,
    KEY plugin_verdicts_plugin (plugin, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

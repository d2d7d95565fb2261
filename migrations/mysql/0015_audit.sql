-- The audit log; see migrations/sqlite/0015_audit.sql. Keep the two in step.
CREATE TABLE audit_log (
    id          BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at_ms       BIGINT        NOT NULL,
    action      VARCHAR(32)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    target      VARCHAR(128)  NOT NULL,
    actor       VARCHAR(64)   NOT NULL,
    address     VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    details     VARCHAR(4000) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

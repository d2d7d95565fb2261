-- Bytes each user has uploaded, for the upload quotas; see
-- migrations/sqlite/0006_upload_usage.sql.
CREATE TABLE upload_usage (
    user_id         BIGINT       NOT NULL PRIMARY KEY,
    day             BIGINT       NOT NULL,
    day_bytes       BIGINT       NOT NULL,
    total_bytes     BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

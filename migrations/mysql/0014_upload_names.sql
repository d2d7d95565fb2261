-- The name each file from /user/upload was uploaded under; see
-- migrations/sqlite/0014_upload_names.sql.
CREATE TABLE upload_names (
    stored_name     VARCHAR(64)  NOT NULL PRIMARY KEY,
    file_name       VARCHAR(255) NOT NULL,
    uploader        BIGINT       NOT NULL,
    created_at      BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The name each file from /user/upload was uploaded under, offered again as the file's
-- name when it is downloaded (Content-Disposition). `stored_name` is the random name the
-- file is stored and served under; `file_name` is already cleaned of paths, quotes and
-- control characters, at most 255 characters.
CREATE TABLE upload_names (
    stored_name     TEXT    PRIMARY KEY,
    file_name       TEXT    NOT NULL,
    uploader        BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL
);

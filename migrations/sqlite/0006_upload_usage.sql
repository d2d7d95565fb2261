-- Bytes each user has uploaded, for the upload quotas: `day` is the day `day_bytes`
-- counts (days since 1970-01-01, UTC), `total_bytes` everything so far.
CREATE TABLE upload_usage (
    user_id         BIGINT  PRIMARY KEY,
    day             BIGINT  NOT NULL,
    day_bytes       BIGINT  NOT NULL,
    total_bytes     BIGINT  NOT NULL
);

-- Read state as one cursor per (conversation, reader) instead of a flag on every message;
-- see migrations/sqlite/0008_read_cursors.sql.
CREATE TABLE read_cursors (
    conv        VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reader      BIGINT       NOT NULL,
    read_up_to  BIGINT       NOT NULL,
    PRIMARY KEY (conv, reader)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO read_cursors (conv, reader, read_up_to)
    SELECT conv, recipient, MAX(id) FROM messages
    WHERE is_read = 1 AND recipient IS NOT NULL
    GROUP BY conv, recipient;

ALTER TABLE messages DROP INDEX messages_unread, DROP COLUMN is_read;

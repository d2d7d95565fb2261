-- Read state as one cursor per (conversation, reader) instead of a flag on every message.
--
-- What a reader has read of a conversation is always a prefix by id (marking read covers
-- every message to them up to an id), so `read_up_to`, the largest id read, says the same
-- as the flags did: a private message is read when its id is at most its recipient's
-- cursor. A message insert then writes no read state at all, and with the flag goes the
-- index `messages_unread`, one leaf written per message in every commit.
CREATE TABLE read_cursors (
    conv        TEXT    NOT NULL,
    reader      BIGINT  NOT NULL,
    read_up_to  BIGINT  NOT NULL,
    PRIMARY KEY (conv, reader)
) WITHOUT ROWID;

-- Each reader's cursor is the newest message to them that was marked read.
INSERT INTO read_cursors (conv, reader, read_up_to)
    SELECT conv, recipient, MAX(id) FROM messages
    WHERE is_read = 1 AND recipient IS NOT NULL
    GROUP BY conv, recipient;

-- SQLite drops a column only once no index uses it.
DROP INDEX messages_unread;
ALTER TABLE messages DROP COLUMN is_read;

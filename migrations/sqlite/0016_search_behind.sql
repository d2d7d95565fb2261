-- The search index follows the messages instead of being written with them (see
-- ARCHITECTURE.md, "Message search"): `search_indexed.upto` is the newest message id the
-- FTS5 table holds, every message up to it and none after. A task indexes what is newer
-- when the store is quiet, or when the unindexed tail grows past its bound; a search reads
-- the index for messages up to `upto` and checks the tail's text directly.
CREATE TABLE search_indexed (
    only INTEGER PRIMARY KEY CHECK (only = 1),
    upto INTEGER NOT NULL
);

INSERT INTO search_indexed (only, upto) SELECT 1, COALESCE(MAX(id), 0) FROM messages;

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;

-- Edits and removals of indexed messages still reach the index at once; those of the tail
-- are read as they stand when the tail is indexed.
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT upto FROM search_indexed) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content)
        VALUES ('delete', old.id, old.content);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages
WHEN old.id <= (SELECT upto FROM search_indexed) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content)
        VALUES ('delete', old.id, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;

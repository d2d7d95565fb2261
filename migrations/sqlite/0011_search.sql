-- Full-text search of message text (see ARCHITECTURE.md, "Message search").
--
-- An FTS5 table over `messages.content` with the trigram tokenizer: every run of three
-- characters is a token, so a search finds any part of a word, and text without spaces
-- (Chinese, Japanese) as well as text with them. Queries of one or two characters have no
-- trigram; the search answers them with LIKE over the conversations the caller can read.
-- The table keeps no copy of the text (content='messages'); the triggers keep it in step
-- with every insert, edit (an UPDATE of content) and recall (a DELETE).
CREATE VIRTUAL TABLE messages_fts USING fts5(
    content,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'trigram'
);

-- Messages stored before this migration.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content)
        VALUES ('delete', old.id, old.content);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content)
        VALUES ('delete', old.id, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;

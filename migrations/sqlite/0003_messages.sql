-- Message history. `id` is the server id that orders every conversation; `conv` is the
-- conversation key (d:<low>:<high> or g:<group>); `is_read` concerns the recipient of a
-- private message.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    conv        TEXT    NOT NULL,
    sender      BIGINT  NOT NULL,
    recipient   BIGINT,
    content     TEXT    NOT NULL,
    client_id   TEXT,
    sent_at     BIGINT  NOT NULL,
    is_read     BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX messages_conv ON messages (conv, id);
CREATE INDEX messages_conv_time ON messages (conv, sent_at);
CREATE INDEX messages_unread ON messages (conv, recipient, is_read, id);
CREATE UNIQUE INDEX messages_client ON messages (sender, client_id);
CREATE INDEX messages_sent ON messages (sent_at);

-- Message history; see migrations/sqlite/0003_messages.sql.
CREATE TABLE messages (
    id          BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    conv        VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    sender      BIGINT        NOT NULL,
    recipient   BIGINT,
    -- VARCHAR, not TEXT: sqlx's Any driver reads TEXT as bytes. 4000 characters is the
    -- largest message the server accepts ([chat] max_message_chars).
    content     VARCHAR(4000) NOT NULL,
    client_id   VARCHAR(128)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    sent_at     BIGINT        NOT NULL,
    is_read     BIGINT        NOT NULL DEFAULT 0,
    KEY messages_conv (conv, id),
    KEY messages_conv_time (conv, sent_at),
    KEY messages_unread (conv, recipient, is_read, id),
    UNIQUE KEY messages_client (sender, client_id),
    KEY messages_sent (sent_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- See migrations/sqlite/0010_message_changes.sql.
ALTER TABLE messages ADD COLUMN edited_at BIGINT NULL, ADD COLUMN reply_to BIGINT NULL;

CREATE TABLE message_hidden (
    user_id     BIGINT  NOT NULL,
    message_id  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, message_id)
) ENGINE=InnoDB;

CREATE TABLE reactions (
    message_id  BIGINT      NOT NULL,
    user_id     BIGINT      NOT NULL,
    emoji       VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    reacted_at  BIGINT      NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

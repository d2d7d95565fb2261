-- Members mentioned in group messages: one row per (member, group, message), written once
-- the message is stored. A member's unread mentions of a group are their rows above their
-- read cursor there (`read_cursors`, under the group's conversation key), so reading the
-- group clears them without touching these rows.
CREATE TABLE mentions (
    user_id     BIGINT  NOT NULL,
    group_id    BIGINT  NOT NULL,
    message_id  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, group_id, message_id)
) WITHOUT ROWID;

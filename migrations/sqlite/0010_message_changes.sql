-- What happens to a message after it is sent: edits, replies, reactions, and messages a
-- user deleted for themselves only. A recalled message is deleted outright (with its
-- reactions), so history and search never see it again.
ALTER TABLE messages ADD COLUMN edited_at BIGINT;
ALTER TABLE messages ADD COLUMN reply_to BIGINT;

-- "Delete for me": the message stays for everyone else.
CREATE TABLE message_hidden (
    user_id     BIGINT  NOT NULL,
    message_id  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, message_id)
) WITHOUT ROWID;

-- One row per (message, user, emoji): a user toggles each emoji on a message.
CREATE TABLE reactions (
    message_id  BIGINT  NOT NULL,
    user_id     BIGINT  NOT NULL,
    emoji       TEXT    NOT NULL,
    reacted_at  BIGINT  NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
) WITHOUT ROWID;

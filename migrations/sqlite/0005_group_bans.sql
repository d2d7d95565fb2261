-- Group bans and what new members read of a group's history.
--
-- A member removed by the owner or an admin is banned from the group until one of them
-- lifts the ban; `banned_by` is who removed them.
CREATE TABLE group_bans (
    group_id        BIGINT  NOT NULL,
    user_id         BIGINT  NOT NULL,
    banned_by       BIGINT  NOT NULL,
    banned_at       BIGINT  NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_bans_user ON group_bans (user_id);

-- 'all' or 'joined'. Groups created before this column start as 'joined'; their members at
-- that time keep a join point of 0 below, so they still read everything.
ALTER TABLE chat_groups ADD COLUMN history_visibility TEXT NOT NULL DEFAULT 'joined';

-- The id of the group's newest message when the member joined: with 'joined', the member
-- reads only the messages after it.
ALTER TABLE group_members ADD COLUMN join_point BIGINT NOT NULL DEFAULT 0;

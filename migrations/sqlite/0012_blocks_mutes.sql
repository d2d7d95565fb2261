-- Blocks between users and mutes in groups.
--
-- While a block exists, neither user sends the other a private message or a friend
-- request. A mute ends at `muted_until` (unix milliseconds); ended mutes are deleted the
-- next time someone in the group is muted. A group in `group_mute_all` hears only its
-- owner and admins.
CREATE TABLE user_blocks (
    blocker_id      BIGINT  NOT NULL,
    blocked_id      BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX user_blocks_blocked ON user_blocks (blocked_id);

CREATE TABLE group_mutes (
    group_id        BIGINT  NOT NULL,
    user_id         BIGINT  NOT NULL,
    muted_until     BIGINT  NOT NULL,
    muted_by        BIGINT  NOT NULL,
    muted_at        BIGINT  NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_mutes_user ON group_mutes (user_id);

CREATE TABLE group_mute_all (
    group_id        BIGINT  NOT NULL PRIMARY KEY,
    muted_by        BIGINT  NOT NULL,
    muted_at        BIGINT  NOT NULL
);

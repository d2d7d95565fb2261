-- Group bans and what new members read of a group's history; see
-- migrations/sqlite/0005_group_bans.sql.
CREATE TABLE group_bans (
    group_id        BIGINT       NOT NULL,
    user_id         BIGINT       NOT NULL,
    banned_by       BIGINT       NOT NULL,
    banned_at       BIGINT       NOT NULL,
    PRIMARY KEY (group_id, user_id),
    KEY group_bans_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

ALTER TABLE chat_groups
    ADD COLUMN history_visibility VARCHAR(8) CHARACTER SET ascii NOT NULL DEFAULT 'joined';

ALTER TABLE group_members ADD COLUMN join_point BIGINT NOT NULL DEFAULT 0;

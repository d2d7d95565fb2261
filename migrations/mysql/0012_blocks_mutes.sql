-- Blocks between users and mutes in groups; see migrations/sqlite/0012_blocks_mutes.sql.
CREATE TABLE user_blocks (
    blocker_id      BIGINT       NOT NULL,
    blocked_id      BIGINT       NOT NULL,
    created_at      BIGINT       NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id),
    KEY user_blocks_blocked (blocked_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE group_mutes (
    group_id        BIGINT       NOT NULL,
    user_id         BIGINT       NOT NULL,
    muted_until     BIGINT       NOT NULL,
    muted_by        BIGINT       NOT NULL,
    muted_at        BIGINT       NOT NULL,
    PRIMARY KEY (group_id, user_id),
    KEY group_mutes_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE group_mute_all (
    group_id        BIGINT       NOT NULL PRIMARY KEY,
    muted_by        BIGINT       NOT NULL,
    muted_at        BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

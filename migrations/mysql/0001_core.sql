-- Core schema: accounts, tokens, invites, verification codes, friends and groups.
-- The same tables as migrations/sqlite; keep the two in step. Times are unix
-- milliseconds (seconds where the column name says so). Text columns are VARCHAR with a
-- binary collation where they are keys, so comparisons match SQLite's.

CREATE TABLE users (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username        VARCHAR(128) NOT NULL,
    username_key    VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    password_digest VARCHAR(128) NOT NULL,
    email_sealed    VARCHAR(1024),
    email_index     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin,
    phone_sealed    VARCHAR(1024),
    avatar          VARCHAR(1024) NOT NULL DEFAULT '',
    status          VARCHAR(32)  NOT NULL,
    token_version   BIGINT       NOT NULL DEFAULT 0,
    created_at      BIGINT       NOT NULL,
    updated_at      BIGINT       NOT NULL,
    UNIQUE KEY users_username_key (username_key),
    UNIQUE KEY users_email_index (email_index)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE refresh_tokens (
    jti             VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    user_id         BIGINT       NOT NULL,
    expires_at_secs BIGINT       NOT NULL,
    KEY refresh_tokens_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE invites (
    invite_key      VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    created_at      BIGINT       NOT NULL,
    used_by         BIGINT,
    used_at         BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE email_codes (
    user_id         BIGINT       NOT NULL PRIMARY KEY,
    email_index     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    code_digest     VARCHAR(128) NOT NULL,
    expires_at_secs BIGINT       NOT NULL,
    attempts        BIGINT       NOT NULL DEFAULT 0,
    sent_at_secs    BIGINT       NOT NULL,
    KEY email_codes_address (email_index)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE friends (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    owner_id        BIGINT       NOT NULL,
    target_id       BIGINT       NOT NULL,
    kind            BIGINT       NOT NULL DEFAULT 1,
    created_at      BIGINT       NOT NULL,
    updated_at      BIGINT       NOT NULL,
    UNIQUE KEY friends_pair (owner_id, target_id),
    KEY friends_target (target_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE chat_groups (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name            VARCHAR(255) NOT NULL,
    owner_id        BIGINT       NOT NULL,
    description     VARCHAR(1024) NOT NULL DEFAULT '',
    size            BIGINT       NOT NULL,
    created_at      BIGINT       NOT NULL,
    updated_at      BIGINT       NOT NULL,
    KEY chat_groups_owner (owner_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE group_members (
    group_id        BIGINT       NOT NULL,
    user_id         BIGINT       NOT NULL,
    role            BIGINT       NOT NULL,
    joined_at       BIGINT       NOT NULL,
    PRIMARY KEY (group_id, user_id),
    KEY group_members_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

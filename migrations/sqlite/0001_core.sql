-- Core schema: accounts, tokens, invites, verification codes, friends and groups.
-- Times are unix milliseconds (seconds where the column name says so), so both SQL
-- dialects store them the same way.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT    NOT NULL,
    -- Lower-cased name: names are unique without regard to case.
    username_key    TEXT    NOT NULL UNIQUE,
    password_digest TEXT    NOT NULL,
    email_sealed    TEXT,
    email_index     TEXT    UNIQUE,
    phone_sealed    TEXT,
    avatar          TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL,
    token_version   BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE refresh_tokens (
    jti             TEXT    PRIMARY KEY,
    user_id         BIGINT  NOT NULL,
    expires_at_secs BIGINT  NOT NULL
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE invites (
    invite_key      TEXT    PRIMARY KEY,
    created_at      BIGINT  NOT NULL,
    used_by         BIGINT,
    used_at         BIGINT
);

CREATE TABLE email_codes (
    user_id         BIGINT  PRIMARY KEY,
    email_index     TEXT    NOT NULL,
    code_digest     TEXT    NOT NULL,
    expires_at_secs BIGINT  NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    sent_at_secs    BIGINT  NOT NULL
);
CREATE INDEX email_codes_address ON email_codes (email_index);

CREATE TABLE friends (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id        BIGINT  NOT NULL,
    target_id       BIGINT  NOT NULL,
    kind            BIGINT  NOT NULL DEFAULT 1,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    UNIQUE (owner_id, target_id)
);
CREATE INDEX friends_target ON friends (target_id);

CREATE TABLE chat_groups (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL,
    owner_id        BIGINT  NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    size            BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX chat_groups_owner ON chat_groups (owner_id);

CREATE TABLE group_members (
    group_id        BIGINT  NOT NULL,
    user_id         BIGINT  NOT NULL,
    role            BIGINT  NOT NULL,
    joined_at       BIGINT  NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

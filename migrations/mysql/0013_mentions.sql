-- Members mentioned in group messages; see migrations/sqlite/0013_mentions.sql.
CREATE TABLE mentions (
    user_id     BIGINT  NOT NULL,
    group_id    BIGINT  NOT NULL,
    message_id  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, group_id, message_id)
) ENGINE=InnoDB;

-- The look-alike key of each user name; see migrations/sqlite/0007_user_name_look_alike.sql.
ALTER TABLE users
    ADD COLUMN name_skeleton CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
    ADD UNIQUE KEY users_name_skeleton (name_skeleton);

-- The look-alike key of each user name (users::names): the SHA-256, in hex, of the name's
-- confusables skeleton after NFKC and lower-casing. Its unique index refuses a name that
-- only looks like an existing one in the same INSERT that stores it. Accounts made before
-- this column get their key when the server starts (store::sql); NULLs never clash.
ALTER TABLE users ADD COLUMN name_skeleton TEXT;
CREATE UNIQUE INDEX users_name_skeleton ON users (name_skeleton);

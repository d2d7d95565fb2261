-- The audit log: one row per action taken through the operator API (a ban, a deletion,
-- a plugin change...), appended and never changed. `actor` is the name the operator gave
-- in `X-Operator` (empty when none), `address` the client address of the request, and
-- `details` a JSON object. Read newest first by id.
--
-- A ban needs no table: it is the account's `status` ('banned'), read with the account at
-- every login and token check.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       BIGINT  NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    address     TEXT    NOT NULL,
    details     TEXT    NOT NULL
);

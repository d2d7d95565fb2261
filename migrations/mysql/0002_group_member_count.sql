-- A group's member count lives on its row, so that "join unless full" is one conditional
-- UPDATE (atomic without row locks, the same in both dialects).
ALTER TABLE chat_groups ADD COLUMN member_count BIGINT NOT NULL DEFAULT 0;

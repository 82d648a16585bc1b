ALTER TABLE targets DROP COLUMN last_used_at;

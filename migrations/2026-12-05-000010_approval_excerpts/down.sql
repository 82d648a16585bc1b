ALTER TABLE approvals DROP COLUMN body_excerpt;

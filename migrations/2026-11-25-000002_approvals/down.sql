DROP TABLE guard_rules;
DROP TABLE approvals;
ALTER TABLE targets DROP COLUMN query_api;
ALTER TABLE tokens DROP COLUMN approval_policy;

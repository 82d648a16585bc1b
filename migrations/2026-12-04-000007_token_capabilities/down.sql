ALTER TABLE tokens DROP COLUMN capabilities, DROP COLUMN allowed_cidrs;

-- When an agent last used a target (admitted by a gateway), written at most once a minute per
-- target like tokens.last_used_at; the dashboard's Targets page shows it.
ALTER TABLE targets ADD COLUMN last_used_at TIMESTAMPTZ;

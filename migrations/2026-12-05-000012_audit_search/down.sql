DROP INDEX IF EXISTS audit_events_search_idx;

-- A GIN index collects new entries in a pending list (up to gin_pending_list_limit, 4 MB by
-- default) that every search reads through linearly until a vacuum or an overflow merges it.
-- The audit trail grows all the time, so searches kept paying for up to 4 MB of it (a search
-- for text no event holds took 3 ms instead of 0.2 ms with 100k events). A 256 kB list keeps
-- that cost small; inserts, which the audit writer makes in batches, measured no slower.
ALTER INDEX audit_events_search_idx SET (gin_pending_list_limit = 256);

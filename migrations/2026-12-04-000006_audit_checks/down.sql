ALTER TABLE audit_events
    DROP CONSTRAINT audit_events_kind_check,
    DROP CONSTRAINT audit_events_outcome_check;

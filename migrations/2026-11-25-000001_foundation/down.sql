DROP TABLE audit_events;
DROP TABLE token_permissions;
DROP TABLE target_credentials;
DROP TABLE targets;
DROP TABLE tokens;
DROP TABLE admin_api_keys;

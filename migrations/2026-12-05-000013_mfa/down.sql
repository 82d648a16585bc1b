ALTER TABLE admin_api_keys DROP COLUMN scopes;
ALTER TABLE user_sessions DROP COLUMN stepped_up_at, DROP COLUMN second_factor_pending;
DROP TABLE user_recovery_codes;
ALTER TABLE users DROP COLUMN totp_last_step, DROP COLUMN totp_enabled_at, DROP COLUMN totp_secret;

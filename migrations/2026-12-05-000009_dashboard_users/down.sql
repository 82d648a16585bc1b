DROP TABLE login_failures;
DROP TABLE setup_codes;
DROP TABLE user_sessions;
DROP TABLE users;

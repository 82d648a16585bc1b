// The diesel schema, kept by hand in step with migrations/.

diesel::table! {
    admin_api_keys (id) {
        id -> Uuid,
        name -> Text,
        key_hash -> Bytea,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        scopes -> Array<Text>,
    }
}

diesel::table! {
    tokens (id) {
        id -> Uuid,
        name -> Text,
        token_hash -> Bytea,
        enabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        approval_policy -> Text,
        capabilities -> Array<Text>,
        allowed_cidrs -> Array<Text>,
    }
}

diesel::table! {
    targets (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        kind -> Text,
        base_url -> Nullable<Text>,
        ssh_host -> Nullable<Text>,
        ssh_port -> Nullable<Int4>,
        ssh_username -> Nullable<Text>,
        pool -> Text,
        enabled -> Bool,
        description -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        query_api -> Nullable<Text>,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    target_credentials (target_id) {
        target_id -> Uuid,
        kind -> Text,
        sealed -> Bytea,
        key_id -> Text,
        hint -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    token_permissions (token_id, target_id) {
        token_id -> Uuid,
        target_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Uuid,
        occurred_at -> Timestamptz,
        recorded_at -> Timestamptz,
        request_id -> Uuid,
        kind -> Text,
        token_id -> Nullable<Uuid>,
        target_id -> Nullable<Uuid>,
        target_slug -> Nullable<Text>,
        method -> Nullable<Text>,
        path -> Nullable<Text>,
        status -> Nullable<Int4>,
        duration_ms -> Int8,
        bytes_in -> Int8,
        bytes_out -> Int8,
        client_ip -> Nullable<Text>,
        executor -> Nullable<Text>,
        outcome -> Text,
        error_code -> Nullable<Text>,
        detail -> Jsonb,
    }
}

diesel::table! {
    approvals (id) {
        id -> Uuid,
        token_id -> Uuid,
        target_id -> Uuid,
        kind -> Text,
        request -> Jsonb,
        request_hash -> Text,
        rule -> Nullable<Text>,
        reason -> Text,
        matched -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        decided_at -> Nullable<Timestamptz>,
        decided_by -> Nullable<Text>,
        decision_comment -> Nullable<Text>,
        used_at -> Nullable<Timestamptz>,
        body_excerpt -> Nullable<Text>,
    }
}

diesel::table! {
    guard_rules (id) {
        id -> Uuid,
        target_id -> Nullable<Uuid>,
        rule_id -> Text,
        rule -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    ssh_host_keys (id) {
        id -> Uuid,
        target_id -> Uuid,
        algorithm -> Text,
        fingerprint -> Text,
        public_key -> Text,
        status -> Text,
        first_seen_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        decided_at -> Nullable<Timestamptz>,
        decided_by -> Nullable<Text>,
    }
}

diesel::table! {
    notification_dead_letters (id) {
        id -> Uuid,
        notifier -> Text,
        approval_id -> Uuid,
        event -> Text,
        attempts -> Int4,
        last_error -> Text,
        payload -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    notifiers (id) {
        id -> Uuid,
        name -> Text,
        kind -> Text,
        url_hint -> Text,
        sealed -> Bytea,
        key_id -> Text,
        enabled -> Bool,
        created_by -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(target_credentials -> targets (target_id));
diesel::table! {
    org_policy (singleton) {
        singleton -> Bool,
        text -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        disabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        totp_secret -> Nullable<Bytea>,
        totp_enabled_at -> Nullable<Timestamptz>,
        totp_last_step -> Nullable<Int8>,
    }
}

diesel::table! {
    user_recovery_codes (user_id, code_hash) {
        user_id -> Uuid,
        code_hash -> Bytea,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    user_sessions (id_hash) {
        id_hash -> Bytea,
        user_id -> Uuid,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        client_ip -> Nullable<Text>,
        second_factor_pending -> Bool,
        stepped_up_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    setup_codes (singleton) {
        singleton -> Bool,
        code_hash -> Bytea,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    login_failures (account) {
        account -> Text,
        failures -> Int4,
        last_failure_at -> Timestamptz,
    }
}

diesel::joinable!(user_sessions -> users (user_id));
diesel::joinable!(user_recovery_codes -> users (user_id));
diesel::joinable!(ssh_host_keys -> targets (target_id));
diesel::joinable!(token_permissions -> targets (target_id));
diesel::joinable!(token_permissions -> tokens (token_id));

diesel::allow_tables_to_appear_in_same_query!(
    admin_api_keys,
    tokens,
    targets,
    target_credentials,
    token_permissions,
    audit_events,
    approvals,
    guard_rules,
    ssh_host_keys,
    notification_dead_letters,
    notifiers,
    org_policy,
    users,
    user_sessions,
    setup_codes,
    login_failures,
);

pub mod approvals;
pub mod audit;
pub mod guard_rules;
pub mod health;
pub mod permissions;
pub mod targets;
pub mod tokens;
pub mod validate;

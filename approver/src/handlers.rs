pub mod audit;
pub mod health;
pub mod permissions;
pub mod targets;
pub mod tokens;
pub mod validate;

pub mod create;
pub mod credential;
pub mod delete;
pub mod get;
pub mod host_keys;
pub mod list;
pub mod update;

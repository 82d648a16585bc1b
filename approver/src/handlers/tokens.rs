pub mod create;
pub mod list;
pub mod regenerate;
pub mod revoke;
pub mod update;

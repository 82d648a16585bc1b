pub mod grant;
pub mod list;
pub mod revoke;

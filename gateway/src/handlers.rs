pub mod approvals;
pub mod gateway;
pub mod health;
pub mod ssh;

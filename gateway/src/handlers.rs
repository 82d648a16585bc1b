pub mod approvals;
pub mod gateway;
pub mod health;

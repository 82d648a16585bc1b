pub mod gateway;
pub mod health;

pub mod decide;
pub mod list;
pub mod stream;

//! The migrations are embedded at compile time (`db::MIGRATIONS`): rebuild when one is added or
//! changed, which cargo would not notice on its own.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}

pub mod common;
mod faults;
mod ops;
mod pacing;
mod secrets;

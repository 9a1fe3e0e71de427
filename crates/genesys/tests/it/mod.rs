pub mod common;
mod faults;
mod logs;
mod ops;
mod pacing;
mod recorder;
mod secrets;

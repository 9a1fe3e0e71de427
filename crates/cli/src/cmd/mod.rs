pub mod audit;
pub mod emulator;
pub mod outbox;
pub mod policy;

pub mod audit;
pub mod emulator;
pub mod outbox;

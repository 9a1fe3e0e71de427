mod common;
mod e2e;
mod input;

mod common;
mod e2e;
mod input;
mod jobs;
mod managed;
mod roles;

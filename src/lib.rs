//! `jalon`: the workflow server. The binary (`main.rs`) is only `cli::run`; the library lets
//! the integration tests drive the server in-process with a manual clock.

pub mod cli;
pub mod clock;
pub mod server;
pub mod store;
pub mod validation;

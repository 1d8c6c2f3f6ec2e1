//! `jalon`: the workflow server. The binary (`main.rs`) is only `cli::run`; the library lets
//! the integration tests drive the server in-process with a manual clock.

pub mod cli;
pub mod coverage;
pub mod procedure_facts;
pub mod server;

// The durable side is its own crate (`store/`, no HTTP); its clock and the shared workflow
// check are re-exported under their old paths for the CLI and the tests.
pub use store::{clock, validation};

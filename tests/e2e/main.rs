//! End-to-end tests of the `jalon` binary. One binary, one module per capability.

mod browser;
mod cli_bench;
mod cli_deadline;
mod cli_graph;
mod cli_migrate;
mod cli_serve;
mod cli_simulate;
mod cli_validate;
mod cli_verify;
mod docs_language;
mod docs_page;
mod fault;
mod server;
mod support;

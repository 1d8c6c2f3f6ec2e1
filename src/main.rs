//! `jalon`: the command line of the workflow server.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}

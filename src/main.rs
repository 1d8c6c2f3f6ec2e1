//! `jalon`: the command line of the workflow server.

fn main() -> std::process::ExitCode {
    jalon::cli::run()
}

//! `jalon`: the command line of the workflow server.

/// A transition allocates many short-lived strings and JSON values, on the SQLite writer
/// thread above all; jemalloc keeps that cheap (figures: docs/performance.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    jalon::cli::run()
}

//! `jalon`: the command line of the workflow server.

/// A transition allocates many short-lived strings and JSON values (case data, notices, SQL
/// values); with glibc's allocator, allocating was a quarter of the SQLite writer thread's
/// time (`perf`), and events per second rose by about a third with this one.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    jalon::cli::run()
}

//! Running the real binary and capturing what it prints.

use std::process::Command;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `jalon ARGS` with no inherited calendar configuration.
pub fn jalon(args: &[&str]) -> Run {
    jalon_with(args, &[])
}

/// Runs `jalon ARGS` with these environment variables set (and no inherited calendar
/// configuration).
pub fn jalon_with(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_jalon"))
        .args(args)
        .env_remove("JALON_CALENDAR")
        .envs(env.iter().copied())
        .output()
        .expect("the jalon binary runs");
    Run {
        code: out.status.code().expect("exited normally"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

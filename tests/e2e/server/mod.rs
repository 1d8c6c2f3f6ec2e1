//! The server driven in-process over real HTTP (port 0) with a manual clock, against a real
//! SQLite file and a real PostgreSQL database, a fresh one per test.

mod api;
mod deploy_limits;
mod documents;
mod fuzz_bodies;
pub mod harness;
mod hostile_notices;
mod linked_cases;
mod living_cases;
mod metrics;
pub mod migrations;
mod notices;
mod openapi;
mod outage;
mod pages_cases;
mod pages_migration;
mod pages_operator;
mod pages_procedures;
mod pages_signin;
mod schedules;
mod sqlite_writer;
mod stuck;
mod timers;
mod waiting;
pub mod web_client;

//! `jalon bench`: throughput of the engine's hot paths on this machine, on one core.
//! Build with `--release`; a debug build measures the compiler, not jalon.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use clap::{Args, ValueEnum};
use engine::calendar::{Calendar, Length, Means, Unit};

use super::Failure;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    All,
    Calendar,
}

#[derive(Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value = "all")]
    suite: Suite,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
}

pub fn run(a: BenchArgs) -> Result<(), Failure> {
    if !(a.seconds > 0.0 && a.seconds <= 600.0) {
        return Err(Failure::Usage(
            "--seconds must be between 0 and 600".to_string(),
        ));
    }
    let budget = Duration::from_secs_f64(a.seconds);
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; run `cargo run --release -- bench` for real numbers");
    }
    if matches!(a.suite, Suite::All | Suite::Calendar) {
        calendar(budget);
    }
    Ok(())
}

/// Inputs spread over 2020-2040, every unit and means, as the workflows use them.
fn calendar_inputs() -> Vec<(NaiveDate, Option<Means>, Length)> {
    let first = NaiveDate::from_ymd_opt(2020, 1, 1).expect("valid date");
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..4096)
        .map(|_| {
            let from = first + Days::new(next() % 7670);
            let means = match next() % 4 {
                0 => Some(Means::RegisteredLetter),
                1 => Some(Means::HandDelivered),
                _ => None,
            };
            let (unit, max) = match next() % 4 {
                0 => (Unit::WorkingDays, 60),
                1 => (Unit::CalendarDays, 90),
                2 => (Unit::Months, 12),
                _ => (Unit::Years, 3),
            };
            (from, means, Length::new(1 + (next() % max) as u32, unit))
        })
        .collect()
}

/// Runs `f` over the inputs repeatedly for `budget`; returns operations per second.
fn per_second<T>(inputs: &[T], budget: Duration, mut f: impl FnMut(&T)) -> f64 {
    let start = Instant::now();
    let mut done: u64 = 0;
    while start.elapsed() < budget {
        for input in inputs {
            f(input);
        }
        done += inputs.len() as u64;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

fn calendar(budget: Duration) {
    let started = Instant::now();
    let cal = Calendar::fwb();
    let build = started.elapsed();
    let inputs = calendar_inputs();
    let full = per_second(&inputs, budget, |(from, means, length)| {
        let d = cal
            .deadline(*from, *means, Some(*length))
            .expect("valid input");
        black_box(d);
    });
    let lookups = per_second(&inputs, budget, |(from, _, length)| {
        black_box(cal.add_working_days(*from, length.count));
    });
    let explained = per_second(&inputs[..256], budget, |(from, means, length)| {
        let d = cal
            .deadline(*from, *means, Some(*length))
            .expect("valid input");
        black_box(d.explain_fr());
    });
    println!(
        "calendar: table of 1900-2299 built in {:.1} ms",
        build.as_secs_f64() * 1e3
    );
    println!(
        "calendar: {:.2} M deadlines/s (full computation record, one core)",
        full / 1e6
    );
    println!(
        "calendar: {:.2} M working-day additions/s (table lookup)",
        lookups / 1e6
    );
    println!("calendar: {:.0} k French explanations/s", explained / 1e3);
}

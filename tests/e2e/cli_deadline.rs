//! The `jalon deadline` and `jalon holidays` contract that other tools depend on.

use crate::support::jalon;

fn split(args: &str) -> Vec<&str> {
    args.split_whitespace().collect()
}

#[test]
fn documented_examples_print_the_due_date_first() {
    for (args, due) in [
        ("--from 2026-12-18 --working-days 10", "2027-01-05"),
        ("--from 2026-09-20 --calendar-days 10", "2026-09-30"),
        ("--from 2027-01-31 --months 1", "2027-03-01"),
        ("--from 2026-04-01 --registered-letter", "2026-04-07"),
        ("--from 2026-04-01 --years 2", "2028-04-03"),
        (
            "--from 2026-12-22 --registered-letter --working-days 20",
            "2027-01-26",
        ),
        (
            "--from 2026-07-20 --hand-delivered --calendar-days 10",
            "2026-07-30",
        ),
        // With no length, the effect date itself, even a Saturday: Art. 22 moves the end of a
        // period, not the effect of a notification.
        ("--from 2026-12-26 --hand-delivered", "2026-12-26"),
    ] {
        let mut argv = vec!["deadline"];
        argv.extend(split(args));
        let run = jalon(&argv);
        assert_eq!(run.code, 0, "{args}: {}", run.stderr);
        assert_eq!(run.stdout, format!("{due}\n"), "{args}");
        assert!(run.stderr.is_empty(), "{args}: {}", run.stderr);
    }
}

#[test]
fn explain_adds_french_lines_below_the_date() {
    let run = jalon(&split("deadline --from 2027-01-31 --months 1 --explain"));
    assert_eq!(run.code, 0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "2027-03-01");
    assert!(lines.len() > 3);
    assert!(
        run.stdout.contains("2027-02-28 dimanche → 2027-03-01"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("lundi 1er mars 2027"), "{}", run.stdout);
}

#[test]
fn json_is_one_object_with_the_whole_record() {
    let run = jalon(&split(
        "deadline --from 2026-12-22 --registered-letter --working-days 20 --json",
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["due"], "2027-01-26");
    assert_eq!(v["notification"]["effective"], "2026-12-28");
    assert_eq!(v["length"]["unit"], "working_days");
    assert_eq!(v["length"]["count"], 20);
    assert_eq!(v["expires_at"], "2027-01-26T23:00:00Z");
    let skipped: Vec<&str> = v["holidays_skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["date"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, ["2026-12-25", "2027-01-01"]);
    assert!(v["explanation"].as_array().unwrap().len() >= 4);
}

#[test]
fn bad_input_is_one_line_on_stderr_with_exit_code_2() {
    for (args, needle) in [
        ("deadline --from 2026-02-30 --months 1", "2026-02-30"),
        ("deadline --from 18/12/2026 --months 1", "YYYY-MM-DD"),
        ("deadline --from 2026-01-01", "missing deadline length"),
        (
            "deadline --from 2026-01-01 --months 1 --years 1",
            "cannot be used with",
        ),
        (
            "deadline --from 2026-01-01 --working-days -3",
            "at least 1, got -3",
        ),
        (
            "deadline --from 2026-01-01 --calendar-days 0",
            "at least 1, got 0",
        ),
        ("deadline --from 2026-01-01 --months x", "whole number"),
        (
            "deadline --from 1899-12-31 --months 1",
            "outside the supported years 1900-2200",
        ),
        (
            "deadline --from 2201-01-01 --years 1",
            "outside the supported years 1900-2200",
        ),
        ("deadline --from 2026-01-01 --years 51", "longest supported"),
        ("deadline --months 1", "--from"),
        ("holidays 2201", "outside the supported years"),
        ("holidays twenty", "expected a year"),
    ] {
        let run = jalon(&split(args));
        assert_eq!(run.code, 2, "{args}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args}: stdout {:?}", run.stdout);
        assert_eq!(run.stderr.lines().count(), 1, "{args}: {:?}", run.stderr);
        assert!(run.stderr.contains(needle), "{args}: {:?}", run.stderr);
    }
}

#[test]
fn holidays_lists_the_year_with_names() {
    let run = jalon(&split("holidays 2027"));
    assert_eq!(run.code, 0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 13);
    assert!(lines[1].starts_with("2027-03-28") && lines[1].contains("Pâques"));
    assert!(lines[5].starts_with("2027-05-16") && lines[5].contains("Pentecôte"));
    assert!(lines[9].contains("Fédération Wallonie-Bruxelles"));
}

#[test]
fn closure_days_come_from_a_file_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("calendar.yaml");
    std::fs::write(
        &good,
        "closures:\n  - date: 2027-05-07\n    label: Pont de l'Ascension\n",
    )
    .unwrap();
    let good = good.to_str().unwrap();
    let run = jalon(&[
        "deadline",
        "--from",
        "2027-05-05",
        "--working-days",
        "1",
        "--calendar",
        good,
    ]);
    assert_eq!(run.stdout, "2027-05-10\n", "{}", run.stderr);
    let run = jalon(&["holidays", "2027", "--calendar", good]);
    assert!(
        run.stdout
            .contains("Pont de l'Ascension (jour de fermeture configuré)")
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "closures:\n  - date: 2026-12-25\n    label: Noël\n").unwrap();
    let bad = bad.to_str().unwrap();
    let run = jalon(&[
        "deadline",
        "--from",
        "2026-12-18",
        "--months",
        "1",
        "--calendar",
        bad,
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("bad.yaml:2:11:"), "{}", run.stderr);
}

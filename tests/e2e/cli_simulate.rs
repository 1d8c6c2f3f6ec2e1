//! `jalon simulate` and `jalon test` on the fixture workflow of tests/fixtures/scenarios/.

use std::path::{Path, PathBuf};

use crate::support::jalon;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios/reclamation-mention")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A copy of the fixture workflow in a temporary folder, with the given scenarios.
fn workflow_with(scenarios: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let wf = dir.path().join("reclamation-mention");
    std::fs::create_dir_all(wf.join("scenarios")).expect("mkdir");
    std::fs::copy(fixture().join("workflow.yaml"), wf.join("workflow.yaml")).expect("copy");
    std::fs::create_dir_all(wf.join("templates")).expect("mkdir");
    for t in std::fs::read_dir(fixture().join("templates")).expect("templates") {
        let t = t.expect("entry").path();
        std::fs::copy(&t, wf.join("templates").join(t.file_name().expect("name"))).expect("copy");
    }
    for (name, text) in scenarios {
        std::fs::write(wf.join("scenarios").join(name), text).expect("write");
    }
    dir
}

fn scenario_text(name: &str) -> String {
    std::fs::read_to_string(fixture().join("scenarios").join(name)).expect("fixture")
}

#[test]
fn simulate_prints_the_french_timeline() {
    let wf = fixture().join("workflow.yaml");
    let sc = fixture().join("scenarios/reclamation-dans-le-delai.yaml");
    let run = jalon(&["simulate", path(&wf), "--scenario", path(&sc)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    for line in [
        "2026-10-05 — état : mention_notifiee — ouverture du dossier par secretariat",
        "  délai « Délai de réclamation » : échéance le jeudi 22 octobre 2026 (2026-10-22)",
        "    Prise d'effet : 2026-10-08 (jeudi 8 octobre 2026), le troisième jour ouvrable suivant l'expédition.",
        "    base légale : Art. 40, § 1er",
        "  avis à : requerant, parent@example.be, modèle : mention-notifiee, délai annoncé : 2026-10-22",
        "2026-10-20 — état : mention_notifiee → reclamation_recue — introduire_reclamation par requerant",
        "  délai « Délai d'avis » suspendu, 16 jours ouvrables restants",
        "  délai « Délai d'avis » repris, échéance le mercredi 2 décembre 2026",
        "  dossier clos : mention_reformee",
    ] {
        assert!(
            run.stdout.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            run.stdout
        );
    }
}

#[test]
fn simulate_json_has_timeline_and_final_case() {
    let wf = fixture().join("workflow.yaml");
    let sc = fixture().join("scenarios/pas-de-reclamation.yaml");
    let run = jalon(&["simulate", path(&wf), "--scenario", path(&sc), "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(v["case"]["state"], "mention_definitive");
    assert_eq!(v["case"]["entered_on"], "2027-01-09");
    assert_eq!(v["failures"].as_array().map(Vec::len), Some(0));
    let fired: Vec<&str> = v["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|m| m["trigger"]["kind"] == "timer")
        .map(|m| m["date"].as_str().expect("date"))
        .collect();
    // The reminder at 08:00 on 5 January, then the expiry at midnight after 8 January.
    assert_eq!(fired, vec!["2027-01-05", "2027-01-09"]);
}

#[test]
fn simulate_quick_run_fast_forwards() {
    let wf = fixture().join("workflow.yaml");
    let run = jalon(&[
        "simulate",
        path(&wf),
        "--start",
        "2026-10-05",
        "--input",
        "mention=favorable",
        "--input",
        "notifiee_le=2026-10-05",
        "--input",
        "email_requerant=membre@example.be",
        "--until",
        "2026-10-31",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("2026-10-23 — état : mention_notifiee → mention_definitive — délai expiré : « Délai de réclamation »"),
        "{}",
        run.stdout
    );
    let refused = jalon(&[
        "simulate",
        path(&wf),
        "--start",
        "2026-10-05",
        "--by",
        "requerant",
    ]);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains(": start: the case could not start: role_not_allowed"),
        "{}",
        refused.stderr
    );
}

#[test]
fn simulate_exits_1_with_the_difference() {
    let text = scenario_text("reclamation-dans-le-delai.yaml").replace(
        "due: { delai_avis: 2026-12-02 }",
        "due: { delai_avis: 2026-12-01 }",
    );
    let dir = workflow_with(&[("faux.yaml", text)]);
    let wf = dir.path().join("reclamation-mention/workflow.yaml");
    let sc = dir.path().join("reclamation-mention/scenarios/faux.yaml");
    let run = jalon(&["simulate", path(&wf), "--scenario", path(&sc)]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!(
            "{}: step 4: expected delai_avis due 2026-12-01, got 2026-12-02",
            path(&sc)
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn simulate_refuses_unusable_arguments_with_exit_2() {
    let wf = fixture().join("workflow.yaml");
    let missing = jalon(&["simulate", path(&wf)]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    let no_file = jalon(&[
        "simulate",
        "/nonexistent/workflow.yaml",
        "--start",
        "2026-10-05",
    ]);
    assert_eq!(no_file.code, 2);
    assert!(
        no_file
            .stderr
            .starts_with("error: cannot read /nonexistent/workflow.yaml"),
        "{}",
        no_file.stderr
    );
    let dir = workflow_with(&[(
        "mauvais.yaml",
        "title: x\nstart: { on: 2026-10-05, by: a, bogus: 1 }\n".into(),
    )]);
    let sc = dir
        .path()
        .join("reclamation-mention/scenarios/mauvais.yaml");
    let bad = jalon(&["simulate", path(&wf), "--scenario", path(&sc)]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("mauvais.yaml:2:"), "{}", bad.stderr);
    assert!(bad.stderr.contains("bogus"), "{}", bad.stderr);
    // A workflow that parses but refers to a state it does not declare is refused with the
    // validator's message, not run.
    let broken = dir.path().join("reclamation-mention/workflow.yaml");
    let text = std::fs::read_to_string(&broken).expect("read");
    std::fs::write(
        &broken,
        text.replace("goto: reclamation_recue", "goto: nulle_part"),
    )
    .expect("write");
    let run = jalon(&["simulate", path(&broken), "--start", "2026-10-05"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("error[unknown-state]: event `introduire_reclamation` names `nulle_part`"),
        "{}",
        run.stderr
    );
}

#[test]
fn test_command_counts_passes_and_failures() {
    let ok = jalon(&["test", path(fixture().parent().expect("parent"))]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert_eq!(ok.stdout, "2 passed, 0 failed\n");

    let wrong_state = scenario_text("pas-de-reclamation.yaml")
        .replace("state: mention_definitive", "state: mention_reformee");
    let dir = workflow_with(&[
        ("a-juste.yaml", scenario_text("pas-de-reclamation.yaml")),
        ("b-faux.yaml", wrong_state),
        ("c-illisible.yaml", "title: [\n".into()),
    ]);
    let run = jalon(&["test", path(dir.path())]);
    assert_eq!(run.code, 1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let b = dir.path().join("reclamation-mention/scenarios/b-faux.yaml");
    assert_eq!(
        lines[0],
        format!(
            "{}: step 2: expected state mention_reformee, got mention_definitive",
            path(&b)
        )
    );
    assert!(lines[1].contains("c-illisible.yaml:"), "{}", run.stdout);
    assert_eq!(lines.last(), Some(&"1 passed, 2 failed"));
}

#[test]
fn test_command_exit_2_on_missing_folder() {
    let run = jalon(&["test", "/nonexistent/workflows"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: /nonexistent/workflows is not a folder of workflows\n"
    );
}

//! `docs/workflow-language.md` teaches the language by example: every ```` ```yaml workflow ````
//! block is a complete workflow that the real `jalon validate` accepts without an error or a
//! warning, every ```` ```yaml scenario ```` block passes `jalon test` against the workflow
//! before it, and every ```` ```hbs template <name>.<part>.hbs ```` block is a template of that
//! workflow. An example that drifts from the language fails here.

use std::path::Path;

use crate::support::jalon;

const GUIDE: &str = "docs/workflow-language.md";

/// One fenced block of the guide: its info string (after the backticks), its text and the
/// line it starts on.
struct Block {
    info: String,
    text: String,
    line: usize,
}

fn fenced_blocks(page: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in page.lines().enumerate() {
        match open.as_mut() {
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    open = Some(Block {
                        info: info.trim().to_string(),
                        text: String::new(),
                        line: i + 1,
                    });
                }
            }
            Some(block) => {
                if line.trim_end() == "```" {
                    blocks.push(open.take().unwrap());
                } else {
                    block.text.push_str(line);
                    block.text.push('\n');
                }
            }
        }
    }
    assert!(open.is_none(), "{GUIDE}: a fenced block is not closed");
    blocks
}

/// The `id:` at the top level of a workflow's YAML.
fn workflow_id(block: &Block) -> String {
    block
        .text
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .map(|id| id.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("{GUIDE}:{}: a workflow example without `id:`", block.line))
}

/// Writes the guide's examples as `workflows/<id>/…` under `root`; returns the number of
/// workflows and of scenarios written.
fn write_examples(page: &str, root: &Path) -> (usize, usize) {
    let workflows = root.join("workflows");
    let mut current: Option<std::path::PathBuf> = None;
    let (mut n_workflows, mut n_scenarios) = (0, 0);
    for block in fenced_blocks(page) {
        let words: Vec<&str> = block.info.split_whitespace().collect();
        let write = |dir: &Path, rel: &str, text: &str| {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            assert!(
                !path.exists(),
                "{GUIDE}:{}: {rel} written twice",
                block.line
            );
            std::fs::write(&path, text).unwrap();
        };
        let owner = || {
            current.clone().unwrap_or_else(|| {
                panic!(
                    "{GUIDE}:{}: a `{}` block before any workflow example",
                    block.line, block.info
                )
            })
        };
        match words.as_slice() {
            ["yaml", "workflow"] => {
                let dir = workflows.join(workflow_id(&block));
                assert!(
                    !dir.exists(),
                    "{GUIDE}:{}: two examples share the id {}",
                    block.line,
                    workflow_id(&block)
                );
                write(&dir, "workflow.yaml", &block.text);
                current = Some(dir);
                n_workflows += 1;
            }
            ["yaml", "scenario"] => {
                n_scenarios += 1;
                let rel = format!("scenarios/exemple-{n_scenarios}.yaml");
                write(&owner(), &rel, &block.text);
            }
            ["hbs", "template", file] => {
                write(&owner(), &format!("templates/{file}"), &block.text);
            }
            ["yaml", ..] => panic!(
                "{GUIDE}:{}: every YAML example is tagged `yaml workflow` or `yaml scenario` \
                 so that it is checked (found `{}`)",
                block.line, block.info
            ),
            _ => {}
        }
    }
    (n_workflows, n_scenarios)
}

/// Validates and tests the examples of `page`; `Err` says what `jalon` reported.
fn check(page: &str) -> Result<(usize, usize), String> {
    let dir = tempfile::tempdir().unwrap();
    let (workflows, scenarios) = write_examples(page, dir.path());
    let folder = dir.path().join("workflows");
    let folder = folder.to_str().unwrap();
    let validate = jalon(&["validate", folder]);
    let plural = if workflows == 1 { "" } else { "s" };
    let clean = format!("checked {workflows} workflow{plural}: 0 errors, 0 warnings\n");
    if validate.code != 0 || validate.stdout != clean {
        return Err(format!(
            "jalon validate on the guide's examples:\n{}{}",
            validate.stdout, validate.stderr
        ));
    }
    let test = jalon(&["test", folder]);
    if test.code != 0
        || !test
            .stdout
            .contains(&format!("{scenarios} passed, 0 failed"))
    {
        return Err(format!(
            "jalon test on the guide's scenarios:\n{}{}",
            test.stdout, test.stderr
        ));
    }
    Ok((workflows, scenarios))
}

#[test]
fn every_example_of_the_language_guide_validates_and_its_scenarios_pass() {
    let page = std::fs::read_to_string(GUIDE).expect("the language guide");
    let (workflows, scenarios) = check(&page).unwrap_or_else(|e| panic!("{e}"));
    // The guide shows the language through examples; losing them (a renamed tag) must fail.
    assert!(workflows >= 8, "only {workflows} workflow examples checked");
    assert!(scenarios >= 3, "only {scenarios} scenario examples checked");
}

#[test]
fn a_broken_example_is_caught() {
    let page = std::fs::read_to_string(GUIDE).expect("the language guide");
    // A goto to a state that does not exist, in the first example.
    let broken = page.replacen("initial: ", "initial: etat_inexistant_", 1);
    let err = check(&broken).expect_err("a broken example must fail the check");
    assert!(err.contains("unknown-state"), "{err}");
    // A scenario whose expected date is wrong.
    let wrong = page.replacen("    expect: {", "    expect: { entered_on: 1999-01-01, ", 1);
    let err = check(&wrong).expect_err("a wrong scenario must fail the check");
    assert!(err.contains("jalon test"), "{err}");
}

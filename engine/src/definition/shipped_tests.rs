//! The workflows shipped in `workflows/` parse into the model, and their names refer to things
//! that exist (states, roles, variables, timers, tasks, templates). A stop-gap until the
//! validator lands: it checks only references, not semantics.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{Delay, Event, Located, Notice, Timer, Workflow, parse};

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows")
}

fn shipped_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shipped_dir())
        .expect("workflows/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("workflow.yaml"))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

struct Refs<'a> {
    wf: &'a Workflow,
    dir: &'a Path,
    timers: HashSet<String>,
    tasks: HashSet<String>,
    errors: Vec<String>,
}

impl Refs<'_> {
    fn err(&mut self, what: &str, pos: super::Pos) {
        self.errors
            .push(format!("{}:{pos}: {what}", self.wf.id.value));
    }

    fn state(&mut self, s: &Located<String>) {
        if !self.wf.states.contains_key(&s.value) {
            self.err(&format!("unknown state `{}`", s.value), s.pos);
        }
    }

    fn role(&mut self, r: &Located<String>) {
        if !self.wf.roles.contains_key(&r.value) {
            self.err(&format!("unknown role `{}`", r.value), r.pos);
        }
    }

    fn var(&mut self, v: &str, pos: super::Pos) {
        if v != "started_on" && !self.wf.variables.contains_key(v) {
            self.err(&format!("unknown variable `{v}`"), pos);
        }
    }

    fn delay(&mut self, d: &Located<Delay>) {
        if d.lengths().len() > 1 || (d.lengths().is_empty() && d.letter.is_none()) {
            self.err(
                "a delay needs exactly one length (or a letter alone)",
                d.pos,
            );
        }
        if let Some(from) = &d.from {
            self.var(&from.value, from.pos);
            let is_date = self
                .wf
                .variables
                .get(&from.value)
                .is_some_and(|v| v.ty == super::VarType::Date);
            if !is_date && from.value != "started_on" {
                self.err(
                    &format!("`{}` is not a date variable", from.value),
                    from.pos,
                );
            }
        }
    }

    fn notice(&mut self, n: &Located<Notice>) {
        for to in &n.to {
            let is_email = self
                .wf
                .variables
                .get(&to.value)
                .is_some_and(|v| v.ty == super::VarType::Email);
            if !is_email && !self.wf.roles.contains_key(&to.value) {
                self.err(
                    &format!(
                        "recipient `{}` is neither a role nor an email variable",
                        to.value
                    ),
                    to.pos,
                );
            }
        }
        for part in ["subject", "text"] {
            let file = self
                .dir
                .join(format!("templates/{}.{part}.hbs", n.template.value));
            if !file.is_file() {
                self.err(
                    &format!("missing template {}", file.display()),
                    n.template.pos,
                );
            }
        }
        if let Some(d) = &n.deadline
            && !self.timers.contains(&d.value)
            && !self.tasks.contains(&d.value)
        {
            self.err(
                &format!("deadline `{}` is no timer or task", d.value),
                d.pos,
            );
        }
    }

    fn timer(&mut self, t: &Located<Timer>) {
        for d in [&t.after, &t.every, &t.until].into_iter().flatten() {
            self.delay(d);
        }
        if let Some(g) = &t.goto {
            self.state(g);
        }
        for (v, _) in &t.set {
            self.var(v, t.pos);
        }
        for n in &t.notify {
            self.notice(n);
        }
        for r in &t.reminders {
            self.delay(&r.before);
            for n in &r.notify {
                self.notice(n);
            }
        }
    }

    fn event(&mut self, e: &Located<Event>) {
        for r in &e.by {
            self.role(r);
        }
        for v in e.inputs.iter().chain(&e.optional_inputs) {
            self.var(&v.value, v.pos);
        }
        let keys: Vec<String> = e.set.keys().cloned().collect();
        for k in keys {
            self.var(&k, e.pos);
        }
        let conds: Vec<String> = e
            .when
            .iter()
            .flat_map(|c| c.value.keys().cloned())
            .chain(
                e.choose
                    .iter()
                    .flat_map(|b| b.when.iter().flat_map(|c| c.value.keys().cloned())),
            )
            .collect();
        for k in conds {
            self.var(&k, e.pos);
        }
        if e.goto.is_some() && !e.choose.is_empty() {
            self.err("use `goto` or `choose`, not both", e.pos);
        }
        if let Some(g) = &e.goto {
            self.state(g);
        }
        for b in &e.choose {
            self.state(&b.goto);
        }
        for n in &e.notify {
            self.notice(n);
        }
        for t in e.suspend.iter().chain(&e.resume) {
            if !self.timers.contains(&t.value) {
                self.err(&format!("unknown timer `{}`", t.value), t.pos);
            }
        }
    }
}

fn check(wf: &Workflow, dir: &Path) -> Vec<String> {
    let all_timers = wf
        .timers
        .iter()
        .chain(wf.states.values().flat_map(|s| s.timers.iter()));
    let timers: HashSet<String> = all_timers.map(|t| t.id.value.clone()).collect();
    let tasks: HashSet<String> = wf
        .states
        .values()
        .flat_map(|s| s.tasks.iter().map(|t| t.id.value.clone()))
        .collect();
    let mut r = Refs {
        wf,
        dir,
        timers,
        tasks,
        errors: Vec::new(),
    };
    r.state(&wf.initial);
    for b in &wf.start.by {
        r.role(b);
    }
    for v in wf.start.inputs.iter().chain(&wf.start.optional_inputs) {
        r.var(&v.value, v.pos);
    }
    for n in &wf.start.notify {
        r.notice(n);
    }
    for t in &wf.timers {
        r.timer(t);
    }
    for (_, s) in &wf.states {
        for n in &s.notify {
            r.notice(n);
        }
        for t in &s.timers {
            r.timer(t);
        }
        for t in &s.tasks {
            r.role(&t.role);
            if let Some(d) = &t.due {
                r.delay(d);
            }
            for rem in &t.reminders {
                r.delay(&rem.before);
                for n in &rem.notify {
                    r.notice(n);
                }
            }
            let closes: Vec<Located<String>> = t.closes_on.clone();
            for c in closes {
                if !s.on.contains_key(&c.value) {
                    r.err(
                        &format!("task closes on unknown event `{}`", c.value),
                        c.pos,
                    );
                }
            }
        }
        for e in s.on.values() {
            r.event(e);
        }
        for target in s.on_child.values() {
            r.state(target);
        }
        if s.is_final && (!s.on.is_empty() || !s.timers.is_empty() || !s.tasks.is_empty()) {
            r.err("a final state has no events, timers or tasks", s.pos);
        }
    }
    r.errors
}

#[test]
fn every_shipped_workflow_parses_and_its_references_exist() {
    let files = shipped_files();
    assert!(!files.is_empty(), "no workflow found under workflows/");
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable workflow file");
        let shown = file.display().to_string();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../workflow.schema.json"),
            "{shown}: the first line must point at the schema"
        );
        match parse(&text) {
            Err(d) => failures.push(d.render(&shown)),
            Ok(wf) => {
                let dir = file.parent().expect("a workflow file has a folder");
                let folder = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if wf.id.value != folder {
                    failures.push(format!(
                        "{shown}: id `{}` differs from its folder",
                        wf.id.value
                    ));
                }
                failures.extend(check(&wf, dir));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

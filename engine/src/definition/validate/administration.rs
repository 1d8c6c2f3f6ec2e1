//! `administration`: the roles that may correct a case, move its deadlines or close it. Its
//! correction notices are checked with every other notice (`notices.rs`).

use super::Checker;
use super::names::unknown_role;
use crate::definition::Located;
use crate::machine::SERVER_ROLES;

pub(super) fn check(c: &mut Checker<'_>) {
    let Some(admin) = &c.wf.administration else {
        return;
    };
    let entries = [
        (
            "corrections",
            admin.corrections.as_ref().map(|x| (&x.by, x.pos)),
        ),
        (
            "deadlines",
            admin.deadlines.as_ref().map(|x| (&x.by, x.pos)),
        ),
        ("closing", admin.closing.as_ref().map(|x| (&x.by, x.pos))),
    ];
    for (name, entry) in entries {
        let Some((by, pos)) = entry else {
            continue;
        };
        if by.is_empty() {
            c.error(
                "administration-no-role",
                pos,
                format!("nobody may make `administration.{name}`: its `by` is empty"),
                "list the workflow's roles allowed, or the server's `admin` or `operator`; \
                 remove the entry to keep the default",
            );
        }
        for role in by.iter() {
            if !c.wf.roles.contains_key(role.as_str()) && !SERVER_ROLES.contains(&role.as_str()) {
                let role: &Located<String> = role;
                unknown_role(c, &format!("`administration.{name}.by`"), role);
            }
        }
    }
}

//! What a template may look like before handlebars renders it: nesting bounded, no partials
//! or decorators, nothing unescaped in HTML.
//!
//! Handlebars parses, renders and drops a template recursively: a template nested a thousand
//! blocks deep (or a partial that includes itself) exhausts the stack of the thread that
//! renders it, and a stack overflow aborts the whole process, not just the notice. So the
//! depth is bounded twice: by a scan of the text that recurses into nothing (before the
//! parser sees it), and on the compiled tree, walked with an explicit stack (the scan reads
//! the text the way the grammar does for every usual template; the tree is the truth).
//! Partials are refused: notice templates have no use for them (each part is one file), and
//! without them a template cannot call itself.

use handlebars::template::{Parameter, TemplateElement};
use handlebars::{Template, template::HelperTemplate};

/// How deep blocks (`{{#if}}` inside `{{#each}}`...), `{{else if}}` links and
/// sub-expressions `(...)` may nest, counted together. The shipped templates need 3 (the digest); 16 leaves
/// room for any readable template and keeps rendering far from a thread's stack limit.
pub const MAX_DEPTH: usize = 16;

/// Where the text first nests deeper than [`MAX_DEPTH`], as a line and a column (1-based,
/// in characters). Reads tags as the grammar does: comments, `\{{` escapes and raw blocks
/// `{{{{raw}}}}...{{{{/raw}}}}` hold no tags; string literals inside a tag hold no brackets.
pub fn too_deep_in_text(text: &str) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    // Per open block, the `{{else if}}` links it has so far (each one nests once more).
    let mut open: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(at) = find(b, i, b"{{") {
        // `\{{` is text (`\\{{` is an escaped backslash before a tag).
        let escaped = at > 0 && b[at - 1] == b'\\' && !(at > 1 && b[at - 2] == b'\\');
        if escaped {
            i = if b[at..].starts_with(b"{{{{") {
                at + 4
            } else {
                at + 2
            };
            continue;
        }
        if b[at..].starts_with(b"{{{{") {
            // A raw block: one level, and its text is not read.
            let j = skip_blank(b, at + 4);
            let closing = b.get(j) == Some(&b'/');
            if !closing && depth + 1 > MAX_DEPTH {
                return Some(line_column(text, at));
            }
            let end = find(b, j, b"}}}}")?;
            i = end + 4;
            if !closing {
                // The grammar's raw text runs up to the next `{{{{`, the closing tag.
                i = find(b, i, b"{{{{")?;
            }
            continue;
        }
        let mut j = skip_blank(b, at + 2);
        if b.get(j) == Some(&b'!') {
            let end = if b[j..].starts_with(b"!--") {
                find(b, j, b"--}}").map(|e| e + 4)
            } else {
                find(b, j, b"}}").map(|e| e + 2)
            };
            i = end?;
            continue;
        }
        if b.get(j) == Some(&b'{') {
            j = skip_blank(b, j + 1);
        }
        match b.get(j) {
            Some(b'#') => {
                open.push(0);
                depth += 1;
            }
            Some(b'/') => {
                if let Some(links) = open.pop() {
                    depth -= 1 + links;
                }
            }
            Some(b'^') if !closes(b, j + 1) => link(&mut open, &mut depth),
            Some(b'e')
                if b[j..].starts_with(b"else")
                    && b.get(j + 4).is_some_and(|c| c.is_ascii_whitespace())
                    && !closes(b, j + 4) =>
            {
                link(&mut open, &mut depth)
            }
            _ => {}
        }
        if depth > MAX_DEPTH {
            return Some(line_column(text, at));
        }
        // The rest of the tag: sub-expressions nest inside it.
        let mut parens = 0usize;
        let mut quote: Option<u8> = None;
        let mut k = j;
        while k < b.len() {
            let c = b[k];
            match quote {
                Some(_) if c == b'\\' => k += 1,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == b'"' || c == b'\'' => quote = Some(c),
                None if c == b'(' => {
                    parens += 1;
                    if depth + parens > MAX_DEPTH {
                        return Some(line_column(text, k));
                    }
                }
                None if c == b')' => parens = parens.saturating_sub(1),
                None if b[k..].starts_with(b"}}") => break,
                None => {}
            }
            k += 1;
        }
        i = k;
    }
    None
}

/// An `{{else x}}` or `{{^x}}` link of an else chain; outside any block (`{{^x}}` alone opens
/// an inverted block), a level of its own.
fn link(open: &mut Vec<usize>, depth: &mut usize) {
    match open.last_mut() {
        Some(links) => *links += 1,
        None => open.push(0),
    }
    *depth += 1;
}

/// Whether only blanks and `~` stand between `from` and `}}`.
fn closes(b: &[u8], from: usize) -> bool {
    let j = skip_blank(b, from);
    let j = if b.get(j) == Some(&b'~') { j + 1 } else { j };
    b[j.min(b.len())..].starts_with(b"}}")
}

/// Skips whitespace and the `~` of whitespace control.
fn skip_blank(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'~') {
        i += 1;
    }
    i
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |n| n + 1);
    (line, before[start..].chars().count() + 1)
}

/// What the compiled tree holds that a notice template may not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A partial (`{{> x}}`, `{{#> x}}`) or a decorator (`{{* x}}`, `{{#*inline}}`).
    Partial,
}

/// The first element of the tree nested deeper than [`MAX_DEPTH`], or a partial or a
/// decorator, with its position (that of the enclosing element when handlebars kept none).
/// The walk keeps its own stack: it must not recurse over a tree it has not measured yet.
pub fn first_finding(t: &Template) -> Option<(Finding, (usize, usize))> {
    let mut stack: Vec<(&Template, usize, (usize, usize))> = vec![(t, 0, (1, 1))];
    while let Some((t, depth, outer)) = stack.pop() {
        for (i, element) in t.elements.iter().enumerate() {
            let at = t.mapping.get(i).map_or(outer, |m| (m.0, m.1));
            match element {
                TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                    if depth + parameter_depth(h) > MAX_DEPTH {
                        return Some((Finding::TooDeep, at));
                    }
                }
                TemplateElement::HelperBlock(h) => {
                    if depth + 1 + parameter_depth(h) > MAX_DEPTH {
                        return Some((Finding::TooDeep, at));
                    }
                    for inner in [&h.template, &h.inverse].into_iter().flatten() {
                        stack.push((inner, depth + 1, at));
                    }
                }
                TemplateElement::DecoratorExpression(_)
                | TemplateElement::DecoratorBlock(_)
                | TemplateElement::PartialExpression(_)
                | TemplateElement::PartialBlock(_) => return Some((Finding::Partial, at)),
                TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
                // An element a newer handlebars added: its depth is unknown, refuse it.
                _ => return Some((Finding::Partial, at)),
            }
        }
    }
    None
}

/// How deep the sub-expressions of a helper's name, parameters and hash nest.
fn parameter_depth(h: &HelperTemplate) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&HelperTemplate, usize)> = vec![(h, 0)];
    while let Some((h, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if depth > MAX_DEPTH {
            break;
        }
        for p in std::iter::once(&h.name)
            .chain(&h.params)
            .chain(h.hash.values())
        {
            if let Parameter::Subexpression(s) = p
                && let TemplateElement::Expression(inner) = &*s.element
            {
                stack.push((inner, depth + 1));
            }
        }
    }
    deepest
}

/// Turns every `{{{x}}}` and `{{&x}}` into `{{x}}`, so that an HTML body escapes every value
/// whatever its template says (validation refuses them too: `template-raw-html`). Only for a
/// tree [`first_finding`] accepted.
pub fn escape_everything(t: &mut Template) {
    let mut stack: Vec<&mut Template> = vec![t];
    while let Some(t) = stack.pop() {
        for element in &mut t.elements {
            *element = match std::mem::replace(element, TemplateElement::Comment(String::new())) {
                TemplateElement::HtmlExpression(h) => TemplateElement::Expression(h),
                other => other,
            };
            if let TemplateElement::HelperBlock(h) = element {
                let HelperTemplate {
                    template, inverse, ..
                } = &mut **h;
                stack.extend(template.iter_mut());
                stack.extend(inverse.iter_mut());
            }
        }
    }
}

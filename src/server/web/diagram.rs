//! The state diagram of a procedure as one standalone SVG, drawn on the server: no script, no
//! style sheet and nothing from another origin, so the "Procédures" pages show it with
//! JavaScript off and under the CSP (presentation attributes only, never `style=`).
//!
//! The layout is a small Sugiyama. Moves that lead back up (found by a depth-first search from
//! the initial state) are laid out reversed; each state gets its longest-path layer below the
//! initial state; every move becomes a chain of items through the bands it crosses, its label
//! an item of its own in the band next to its source, so that no label overlaps a state or
//! another label, and lines only bend between bands. A few barycenter sweeps order each band
//! to cut crossings (the best order seen is kept), then each band is placed as close to its
//! neighbours as the widths allow (isotonic regression: pool adjacent violators).
//! Moves come from `graph::transitions`, the list the validator and `jalon graph` read.

use std::collections::HashMap;
use std::fmt::Write;

use engine::calendar::french;
use engine::definition::graph::{Via, transitions};
use engine::definition::model::Workflow;

/// Above this many states a diagram is unreadable: the page shows the table of states instead.
pub const MAX_STATES: usize = 300;
/// Above this many moves, likewise.
const MAX_MOVES: usize = 1_500;
/// Items of the layout (states, labels, points of long lines): bounds the work per request.
const MAX_ITEMS: usize = 30_000;
/// A drawing wider than this (in pixels) cannot be read, even scrolled; a long chain of
/// states may be taller.
const MAX_WIDTH: f64 = 12_000.0;
const MAX_HEIGHT: f64 = 40_000.0;

const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif";
const MONO: &str = "ui-monospace, Menlo, Consolas, 'DejaVu Sans Mono', monospace";
/// Dark text on the light fills below: at least 9:1, well above WCAG AA's 4.5:1.
const TEXT: &str = "#111827";
const MUTED: &str = "#374151";
/// Lines and arrowheads: 7.5:1 on white (non-text contrast needs 3:1).
const LINE: &str = "#4b5563";

const LABEL_SIZE: f64 = 13.0;
const LABEL_LINE: f64 = 17.0;
const SMALL_SIZE: f64 = 11.0;
const SMALL_LINE: f64 = 14.0;
const PAD_X: f64 = 12.0;
const PAD_Y: f64 = 8.0;
const NODE_TEXT_MAX: f64 = 210.0;
const NODE_MIN_W: f64 = 120.0;
const ID_MAX: f64 = 270.0;
const NODE_LINES: usize = 3;
const EDGE_TEXT_MAX: f64 = 170.0;
const EDGE_LINES: usize = 3;
const MARGIN: f64 = 16.0;
const START_R: f64 = 7.0;
/// How far the first self-loop of a state reaches out to its right, and each next one more.
const LOOP_REACH: f64 = 30.0;
const LOOP_STEP: f64 = 10.0;

/// The state diagram of `wf`, as an accessible SVG document (`role="img"`, a `<title>` and a
/// French `<desc>`); a short notice instead when the workflow is too large to draw legibly.
/// The same workflow always gives the same text.
pub fn svg(wf: &Workflow) -> String {
    match build(wf) {
        Ok(diagram) => render(wf, &diagram),
        Err(Unfit::Empty) => notice(wf, "La procédure ne compte aucun état.".to_string()),
        Err(Unfit::TooLarge { states, moves }) => notice(
            wf,
            format!(
                "Diagramme non affiché : la procédure compte {states} états et {moves} \
                 transitions, trop pour un schéma lisible. Le tableau des états les décrit."
            ),
        ),
    }
}

#[derive(Debug)]
enum Unfit {
    Empty,
    TooLarge { states: usize, moves: usize },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum NodeKind {
    State {
        initial: bool,
        is_final: bool,
    },
    /// The black dot the initial state is entered from.
    Start,
    /// The source of a workflow-level timer, which can fire in any non-final state.
    Anywhere,
}

#[derive(Debug)]
struct Node {
    kind: NodeKind,
    lines: Vec<String>,
    id_line: Option<String>,
    /// "état initial", "état final · issue : …".
    note: Vec<String>,
    tooltip: String,
    w: f64,
    h: f64,
    layer: usize,
    item: usize,
    /// Self-loop edges, drawn on the right of the box.
    loops: Vec<usize>,
    /// Extra room the self-loops and their labels take on the right.
    loop_w: f64,
    loop_h: f64,
}

impl Node {
    /// A node that is not a state: no id, no note, no loops.
    fn plain(kind: NodeKind, lines: Vec<String>, tooltip: &str, w: f64, h: f64) -> Node {
        Node {
            kind,
            lines,
            id_line: None,
            note: Vec::new(),
            tooltip: tooltip.to_string(),
            w,
            h,
            layer: 0,
            item: 0,
            loops: Vec::new(),
            loop_w: 0.0,
            loop_h: 0.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stroke {
    /// An actor's event (or a branch of its `choose`).
    Solid,
    /// A timer.
    Dashed,
    /// A child case's outcome.
    Dotted,
}

#[derive(Debug)]
struct Edge {
    from: usize,
    to: usize,
    lines: Vec<String>,
    label_w: f64,
    label_h: f64,
    tooltip: String,
    stroke: Stroke,
    /// The arrow from the start dot: not a move.
    start: bool,
    /// Leads to a state at or above its source's layer: laid out reversed, drawn upwards.
    back: bool,
    /// Items from the upper end to the lower end, one per band.
    path: Vec<usize>,
    label_item: Option<usize>,
}

impl Edge {
    /// The node drawn above and the node drawn below.
    fn ends(&self) -> (usize, usize) {
        if self.back {
            (self.to, self.from)
        } else {
            (self.from, self.to)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ItemOf {
    Node(usize),
    Label(usize),
    Dummy,
}

#[derive(Debug)]
struct Item {
    of: ItemOf,
    rank: usize,
    /// Room left and right of the item's anchor `x`.
    left: f64,
    right: f64,
    h: f64,
    x: f64,
}

#[derive(Debug)]
struct Diagram {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    items: Vec<Item>,
    rank_top: Vec<f64>,
    rank_h: Vec<f64>,
    /// Where each edge meets its upper and lower node (x).
    ports: Vec<(f64, f64)>,
    width: f64,
    height: f64,
    legend_y: f64,
    moves: usize,
}

impl Diagram {
    /// The box of a node: x, y, width, height.
    fn node_box(&self, n: usize) -> (f64, f64, f64, f64) {
        let node = &self.nodes[n];
        let item = &self.items[node.item];
        let top = self.rank_top[item.rank] + (self.rank_h[item.rank] - node.h) / 2.0;
        (item.x - node.w / 2.0, top, node.w, node.h)
    }

    /// The white box behind an edge's label.
    #[cfg(test)]
    fn label_box(&self, e: usize) -> Option<(f64, f64, f64, f64)> {
        let edge = &self.edges[e];
        let item = &self.items[edge.label_item?];
        let cy = self.rank_top[item.rank] + self.rank_h[item.rank] / 2.0;
        Some((
            item.x - edge.label_w / 2.0 - 3.0,
            cy - edge.label_h / 2.0,
            edge.label_w + 6.0,
            edge.label_h,
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Text

/// Approximate advance of a character, in ems, for a common sans-serif: generous, so that text
/// fits its box in any of the fonts of `FONT`.
fn char_em(c: char) -> f64 {
    match c {
        'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '’' | '|' | '!' | 'ï' | 'î' | 'í' => {
            0.3
        }
        ' ' | 'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '-' | '/' | '«' | '»' => 0.4,
        'm' | 'w' | 'M' | 'W' | '@' => 0.88,
        c if c.is_uppercase() => 0.7,
        c if c.is_alphanumeric() || c.is_ascii() => 0.62,
        '…' => 1.0,
        _ => 1.2,
    }
}

fn text_width(text: &str, size: f64, bold: bool) -> f64 {
    let em: f64 = text.chars().map(char_em).sum();
    em * size * if bold { 1.1 } else { 1.0 }
}

fn mono_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * 0.62 * size
}

/// `text` in at most `max_lines` lines no wider than `max_w`; the last one ends with "…" when
/// something was left out (the caller then shows the whole text as a tooltip).
fn wrap(text: &str, measure: &dyn Fn(&str) -> f64, max_w: f64, max_lines: usize) -> Vec<String> {
    // Words wider than a line are cut in pieces.
    let mut pieces: Vec<(String, bool)> = Vec::new();
    for word in text.split_whitespace() {
        if measure(word) <= max_w {
            pieces.push((word.to_string(), true));
            continue;
        }
        let mut chunk = String::new();
        let mut spaced = true;
        for c in word.chars() {
            chunk.push(c);
            if measure(&chunk) > max_w && chunk.chars().count() > 1 {
                chunk.pop();
                pieces.push((std::mem::take(&mut chunk), spaced));
                spaced = false;
                chunk.push(c);
            }
        }
        pieces.push((chunk, spaced));
    }
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for (piece, spaced) in pieces {
        let candidate = if current.is_empty() {
            piece.clone()
        } else if spaced {
            format!("{current} {piece}")
        } else {
            format!("{current}{piece}")
        };
        if current.is_empty() || measure(&candidate) <= max_w {
            current = candidate;
        } else {
            lines.push(std::mem::replace(&mut current, piece));
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            while !last.is_empty() && measure(&format!("{last}…")) > max_w {
                last.pop();
            }
            let kept = last.trim_end().to_string();
            *last = format!("{kept}…");
        }
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// Text for XML content and attribute values; characters XML 1.0 cannot hold become spaces.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// An XML id from the workflow's id (lowercase letters, digits and dashes when valid), so that
/// two diagrams on one page do not share marker or title ids.
fn id_prefix(wf: &Workflow) -> String {
    let tail: String = wf
        .id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("diagramme-{tail}")
}

// ---------------------------------------------------------------------------------------------
// Building the graph

/// The short text of a move, its full text, and how its line is drawn.
fn move_text(wf: &Workflow, from: Option<&str>, via: &Via<'_>) -> (String, String, Stroke) {
    let state = from.and_then(|f| wf.states.get(f));
    let event_label = |id: &str| {
        state
            .and_then(|s| s.on.get(id))
            .and_then(|e| e.label.clone())
            .unwrap_or_else(|| id.to_string())
    };
    match via {
        Via::Event(id) => {
            let label = event_label(id);
            (label.clone(), label, Stroke::Solid)
        }
        Via::Branch(id, i) => {
            let label = format!("({}) {}", i + 1, event_label(id));
            (
                label.clone(),
                format!("{label}, choix n° {}", i + 1),
                Stroke::Solid,
            )
        }
        Via::Timer(id, delay) => {
            let timer = match state {
                Some(s) => s.timers.iter().find(|t| t.id.as_str() == *id),
                None => wf.timers.iter().find(|t| t.id.as_str() == *id),
            };
            let length = delay.and_then(|d| d.length()).map(french::length);
            let name = timer
                .and_then(|t| t.label.clone())
                .or_else(|| length.clone())
                .unwrap_or_else(|| id.to_string());
            let short = format!("⏱ {name}");
            let full = match &length {
                Some(l) if *l != name => format!("{short} ({l})"),
                _ => short.clone(),
            };
            (short, full, Stroke::Dashed)
        }
        Via::Child(outcome) => (
            format!("↳ {outcome}"),
            format!("↳ dossier lié terminé avec l'issue « {outcome} »"),
            Stroke::Dotted,
        ),
    }
}

fn state_node(wf: &Workflow, id: &str, initial: bool) -> Node {
    let state = &wf.states[id];
    let label_measure = |s: &str| text_width(s, LABEL_SIZE, true);
    let lines = wrap(&state.label, &label_measure, NODE_TEXT_MAX, NODE_LINES);
    // Operators look states up by id: it may widen the box a little before it is cut.
    let id_line = wrap(id, &|s: &str| mono_width(s, SMALL_SIZE), ID_MAX, 1).remove(0);
    let outcome = state.outcome.as_deref().unwrap_or(id);
    let (note, status) = match (initial, state.is_final) {
        (true, true) => (
            Some(format!("état initial et final · issue : {outcome}")),
            format!(" — état initial et final, issue : {outcome}"),
        ),
        (true, false) => (
            Some("état initial".to_string()),
            " — état initial".to_string(),
        ),
        (false, true) => (
            Some(format!("état final · issue : {outcome}")),
            format!(" — état final, issue : {outcome}"),
        ),
        (false, false) => (None, String::new()),
    };
    let small_measure = |s: &str| text_width(s, SMALL_SIZE, false);
    let note = note.map_or_else(Vec::new, |n| wrap(&n, &small_measure, NODE_TEXT_MAX, 2));
    let text_w = lines
        .iter()
        .map(|l| label_measure(l))
        .chain([mono_width(&id_line, SMALL_SIZE)])
        .chain(note.iter().map(|n| small_measure(n)))
        .fold(0.0, f64::max);
    let h = PAD_Y * 2.0
        + lines.len() as f64 * LABEL_LINE
        + 2.0
        + SMALL_LINE
        + note.len() as f64 * SMALL_LINE;
    Node {
        kind: NodeKind::State {
            initial,
            is_final: state.is_final,
        },
        tooltip: format!(
            "{} ({id}){status}",
            state.label.split_whitespace().collect::<Vec<_>>().join(" ")
        ),
        lines,
        id_line: Some(id_line),
        note,
        w: (text_w + 2.0 * PAD_X).max(NODE_MIN_W),
        h,
        layer: 0,
        item: 0,
        loops: Vec::new(),
        loop_w: 0.0,
        loop_h: 0.0,
    }
}

fn make_edge(
    nodes: &[Node],
    from: usize,
    to: usize,
    short: &str,
    full: String,
    stroke: Stroke,
) -> Edge {
    let measure = |s: &str| text_width(s, SMALL_SIZE, false);
    let lines = if short.is_empty() {
        Vec::new()
    } else {
        wrap(short, &measure, EDGE_TEXT_MAX, EDGE_LINES)
    };
    let name = |v: usize| {
        nodes[v]
            .tooltip
            .split(" — ")
            .next()
            .unwrap_or("")
            .to_string()
    };
    Edge {
        from,
        to,
        label_w: lines.iter().map(|l| measure(l)).fold(0.0, f64::max),
        label_h: if lines.is_empty() {
            0.0
        } else {
            lines.len() as f64 * SMALL_LINE + 4.0
        },
        lines,
        tooltip: format!("{} → {} : {full}", name(from), name(to)),
        stroke,
        start: false,
        back: false,
        path: Vec::new(),
        label_item: None,
    }
}

fn build(wf: &Workflow) -> Result<Diagram, Unfit> {
    let n = wf.states.len();
    let move_count = transitions(wf).len();
    let too_large = Unfit::TooLarge {
        states: n,
        moves: move_count,
    };
    if n == 0 {
        return Err(Unfit::Empty);
    }
    if n > MAX_STATES || move_count > MAX_MOVES {
        return Err(too_large);
    }
    let (mut nodes, mut edges, initial) = graph(wf);
    let moves = edges.len();
    let preorder = layer(&mut nodes, &mut edges, n, initial);
    let start = nodes.len();
    nodes.push(Node::plain(
        NodeKind::Start,
        Vec::new(),
        "Début de la procédure",
        2.0 * START_R,
        2.0 * START_R,
    ));
    if let Some(initial) = initial {
        let edge = make_edge(&nodes, start, initial, "", String::new(), Stroke::Solid);
        edges.push(Edge {
            start: true,
            ..edge
        });
    }
    size_loops(&mut nodes, &edges);

    // Items: the start dot, states in search order (a fair first order), other nodes, then
    // the items of each edge.
    let node_order: Vec<usize> = [start]
        .into_iter()
        .chain(preorder)
        .chain(n..start)
        .collect();
    let mut items = chains(&mut nodes, &mut edges, &node_order).ok_or(too_large)?;
    let rank_count = items.iter().map(|i| i.rank).max().unwrap_or(0) + 1;
    let mut ranks: Vec<Vec<usize>> = vec![Vec::new(); rank_count];
    for (i, item) in items.iter().enumerate() {
        ranks[item.rank].push(i);
    }
    let mut up: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    for edge in &edges {
        for pair in edge.path.windows(2) {
            down[pair[0]].push(pair[1]);
            up[pair[1]].push(pair[0]);
        }
    }
    order(&mut ranks, &up, &down, items.len());
    place(&ranks, &mut items, &up, &down);
    let ports = ports(&nodes, &edges, &items);
    let (rank_top, rank_h, bottom) = bands(&edges, &items, &ports, rank_count);

    let width = items.iter().map(|i| i.x + i.right).fold(0.0, f64::max) + MARGIN;
    let diagram = Diagram {
        nodes,
        edges,
        items,
        rank_top,
        rank_h,
        ports,
        width: width.max(LEGEND_MIN_W),
        height: 0.0,
        legend_y: bottom,
        moves,
    }
    .with_legend_height();
    if diagram.width > MAX_WIDTH || diagram.height > MAX_HEIGHT {
        return Err(Unfit::TooLarge {
            states: n,
            moves: move_count,
        });
    }
    Ok(diagram)
}

/// The nodes (states first, in file order, then one "any state" box per workflow-level
/// timer) and one edge per move whose ends exist; and the initial state's node.
fn graph(wf: &Workflow) -> (Vec<Node>, Vec<Edge>, Option<usize>) {
    let index: HashMap<&str, usize> = wf
        .states
        .keys()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let initial = index.get(wf.initial.as_str()).copied();
    let mut nodes: Vec<Node> = wf
        .states
        .keys()
        .enumerate()
        .map(|(i, id)| state_node(wf, id, Some(i) == initial))
        .collect();
    let mut edges = Vec::new();
    for t in transitions(wf) {
        let Some(&to) = index.get(t.to) else {
            continue;
        };
        let from = match t.from {
            Some(f) => match index.get(f) {
                Some(&f) => f,
                None => continue,
            },
            None => {
                let lines = vec!["Tout état".to_string(), "non final".to_string()];
                let w = lines
                    .iter()
                    .map(|l| text_width(l, LABEL_SIZE, false))
                    .fold(0.0, f64::max);
                let h = PAD_Y * 2.0 + lines.len() as f64 * LABEL_LINE;
                nodes.push(Node::plain(
                    NodeKind::Anywhere,
                    lines,
                    "Tout état non final (délai de la procédure)",
                    w + 2.0 * PAD_X,
                    h,
                ));
                nodes.len() - 1
            }
        };
        let (short, full, stroke) = move_text(wf, t.from, &t.via);
        edges.push(make_edge(&nodes, from, to, &short, full, stroke));
    }
    (nodes, edges, initial)
}

/// Marks the edges that lead back up and gives each node its layer; returns the states in
/// search order.
///
/// A depth-first search from the initial state, then from any state it does not reach, finds
/// the edges to a state still on the stack: those lead back up. Each state then takes the
/// longest path to it over the other edges, in topological (reverse post-) order, from layer
/// 1 (layer 0 holds the start dot). An "any state" box sits just above its target.
fn layer(nodes: &mut [Node], edges: &mut [Edge], n: usize, initial: Option<usize>) -> Vec<usize> {
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (e, edge) in edges.iter().enumerate() {
        if edge.from < n && edge.from != edge.to {
            out_edges[edge.from].push(e);
        }
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Seen {
        No,
        OnStack,
        Done,
    }
    let mut seen = vec![Seen::No; n];
    let mut preorder = Vec::with_capacity(n);
    let mut postorder = Vec::with_capacity(n);
    for root in initial.into_iter().chain(0..n) {
        if seen[root] != Seen::No {
            continue;
        }
        seen[root] = Seen::OnStack;
        preorder.push(root);
        let mut stack = vec![(root, 0usize)];
        while let Some(&(v, i)) = stack.last() {
            let Some(&e) = out_edges[v].get(i) else {
                seen[v] = Seen::Done;
                postorder.push(v);
                stack.pop();
                continue;
            };
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            let w = edges[e].to;
            match seen[w] {
                Seen::No => {
                    seen[w] = Seen::OnStack;
                    preorder.push(w);
                    stack.push((w, 0));
                }
                Seen::OnStack => edges[e].back = true,
                Seen::Done => {}
            }
        }
    }
    for node in nodes.iter_mut().take(n) {
        node.layer = 1;
    }
    for &v in postorder.iter().rev() {
        for &e in &out_edges[v] {
            if !edges[e].back {
                let to = edges[e].to;
                nodes[to].layer = nodes[to].layer.max(nodes[v].layer + 1);
            }
        }
    }
    for edge in edges.iter() {
        if nodes[edge.from].kind == NodeKind::Anywhere {
            nodes[edge.from].layer = nodes[edge.to].layer - 1;
        }
    }
    preorder
}

/// Self-loops sit on the right of their state, their labels stacked beyond the widest loop:
/// the room they take.
fn size_loops(nodes: &mut [Node], edges: &[Edge]) {
    for (e, edge) in edges.iter().enumerate() {
        if edge.from == edge.to {
            nodes[edge.from].loops.push(e);
        }
    }
    for node in nodes {
        if node.loops.is_empty() {
            continue;
        }
        let k = node.loops.len() as f64;
        let label_w = node
            .loops
            .iter()
            .map(|&e| edges[e].label_w)
            .fold(0.0, f64::max);
        node.loop_w = loop_label_x(node.loops.len()) + label_w + 6.0;
        node.loop_h = node.loops.iter().map(|&e| edges[e].label_h).sum::<f64>() + 4.0 * (k - 1.0);
    }
}

/// How far right of its state the labels of `k` self-loops start.
fn loop_label_x(k: usize) -> f64 {
    // A cubic whose two control points reach out `r` bulges 3/4 of `r`.
    0.75 * (LOOP_REACH + LOOP_STEP * (k as f64 - 1.0)) + 6.0
}

/// One item per node in band `2 × layer`, then for each edge one item per band between its
/// ends: its label in the band next to its source, points of the line elsewhere. `None` when
/// there would be too many.
fn chains(nodes: &mut [Node], edges: &mut [Edge], node_order: &[usize]) -> Option<Vec<Item>> {
    let mut items: Vec<Item> = Vec::new();
    for &v in node_order {
        let node = &mut nodes[v];
        node.item = items.len();
        items.push(Item {
            of: ItemOf::Node(v),
            rank: 2 * node.layer,
            left: node.w / 2.0,
            right: node.w / 2.0 + node.loop_w,
            h: node.h.max(node.loop_h),
            x: 0.0,
        });
    }
    for (e, edge) in edges.iter_mut().enumerate() {
        if edge.from == edge.to {
            continue;
        }
        let (upper, lower) = edge.ends();
        let (top, bottom) = (2 * nodes[upper].layer, 2 * nodes[lower].layer);
        let label_rank = if edge.back { bottom - 1 } else { top + 1 };
        edge.path.push(nodes[upper].item);
        for rank in top + 1..bottom {
            let labelled = rank == label_rank && !edge.lines.is_empty();
            if labelled {
                edge.label_item = Some(items.len());
            }
            let half = if labelled {
                edge.label_w / 2.0 + 3.0
            } else {
                2.0
            };
            edge.path.push(items.len());
            items.push(Item {
                of: if labelled {
                    ItemOf::Label(e)
                } else {
                    ItemOf::Dummy
                },
                rank,
                left: half,
                right: half,
                h: if labelled { edge.label_h } else { 0.0 },
                x: 0.0,
            });
        }
        edge.path.push(nodes[lower].item);
        if items.len() > MAX_ITEMS {
            return None;
        }
    }
    Some(items)
}

/// Where each edge meets its upper and lower box: the edges on one side of a box spread along
/// it, in the order of where they go, so that they do not cross at the box.
fn ports(nodes: &[Node], edges: &[Edge], items: &[Item]) -> Vec<(f64, f64)> {
    let mut ports = vec![(0.0, 0.0); edges.len()];
    let mut at_top: Vec<Vec<(f64, usize)>> = vec![Vec::new(); nodes.len()];
    let mut at_bottom: Vec<Vec<(f64, usize)>> = vec![Vec::new(); nodes.len()];
    for (e, edge) in edges.iter().enumerate() {
        if edge.path.len() < 2 {
            continue;
        }
        let (upper, lower) = edge.ends();
        at_bottom[upper].push((items[edge.path[1]].x, e));
        at_top[lower].push((items[edge.path[edge.path.len() - 2]].x, e));
    }
    for (v, node) in nodes.iter().enumerate() {
        let cx = items[node.item].x;
        for (side, upper_end) in [(&mut at_bottom[v], true), (&mut at_top[v], false)] {
            side.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let k = side.len();
            let step = if k > 1 {
                ((node.w - 24.0) / (k - 1) as f64).clamp(0.0, 16.0)
            } else {
                0.0
            };
            for (i, &(_, e)) in side.iter().enumerate() {
                let x = cx + (i as f64 - (k - 1) as f64 / 2.0) * step;
                if upper_end {
                    ports[e].0 = x;
                } else {
                    ports[e].1 = x;
                }
            }
        }
    }
    ports
}

/// The top and height of each band, and the bottom of the last. The space between two bands
/// grows with how far lines move sideways in it, so that they never run nearly flat.
fn bands(
    edges: &[Edge],
    items: &[Item],
    ports: &[(f64, f64)],
    rank_count: usize,
) -> (Vec<f64>, Vec<f64>, f64) {
    let mut rank_h = vec![0.0f64; rank_count];
    for item in items {
        rank_h[item.rank] = rank_h[item.rank].max(item.h);
    }
    let mut shift = vec![0.0f64; rank_count];
    for (e, edge) in edges.iter().enumerate() {
        let last = edge.path.len().saturating_sub(1);
        for (i, pair) in edge.path.windows(2).enumerate() {
            let xa = if i == 0 { ports[e].0 } else { items[pair[0]].x };
            let xb = if i + 1 == last {
                ports[e].1
            } else {
                items[pair[1]].x
            };
            let r = items[pair[0]].rank;
            shift[r] = shift[r].max((xa - xb).abs());
        }
    }
    let mut rank_top = Vec::with_capacity(rank_count);
    let mut y = MARGIN;
    for r in 0..rank_count {
        rank_top.push(y);
        y += rank_h[r] + (shift[r] * 0.25).clamp(20.0, 64.0);
    }
    (rank_top, rank_h, y)
}

// ---------------------------------------------------------------------------------------------
// Ordering and placing

/// Pairs of links between two bands that cross, given each item's position in its band.
fn crossings(ranks: &[Vec<usize>], down: &[Vec<usize>], pos: &[usize]) -> usize {
    let mut total = 0;
    for rank in ranks {
        let mut seq: Vec<usize> = Vec::new();
        for &a in rank {
            let start = seq.len();
            seq.extend(down[a].iter().map(|&b| pos[b]));
            seq[start..].sort_unstable();
        }
        total += inversions(&mut seq);
    }
    total
}

/// Pairs i < j with seq[i] > seq[j] (merge sort; sorts `seq`).
fn inversions(seq: &mut [usize]) -> usize {
    if seq.len() < 2 {
        return 0;
    }
    let mid = seq.len() / 2;
    let mut count = inversions(&mut seq[..mid]) + inversions(&mut seq[mid..]);
    let mut merged = Vec::with_capacity(seq.len());
    let (mut i, mut j) = (0, mid);
    while i < mid && j < seq.len() {
        if seq[j] < seq[i] {
            count += mid - i;
            merged.push(seq[j]);
            j += 1;
        } else {
            merged.push(seq[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&seq[i..mid]);
    merged.extend_from_slice(&seq[j..]);
    seq.copy_from_slice(&merged);
    count
}

fn positions(ranks: &[Vec<usize>], pos: &mut [usize]) {
    for rank in ranks {
        for (i, &item) in rank.iter().enumerate() {
            pos[item] = i;
        }
    }
}

/// Sorts a band by the mean position of each item's neighbours (stable; an item without
/// neighbours keeps its place as its key).
fn barycenter(rank: &mut Vec<usize>, neighbours: &[Vec<usize>], pos: &mut [usize]) {
    let mut keyed: Vec<(f64, usize, usize)> = rank
        .iter()
        .enumerate()
        .map(|(i, &item)| {
            let ns = &neighbours[item];
            let key = if ns.is_empty() {
                i as f64
            } else {
                ns.iter().map(|&n| pos[n] as f64).sum::<f64>() / ns.len() as f64
            };
            (key, i, item)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    *rank = keyed.into_iter().map(|(_, _, item)| item).collect();
    for (i, &item) in rank.iter().enumerate() {
        pos[item] = i;
    }
}

const SWEEPS: usize = 8;

fn order(ranks: &mut [Vec<usize>], up: &[Vec<usize>], down: &[Vec<usize>], count: usize) {
    let mut pos = vec![0; count];
    positions(ranks, &mut pos);
    let mut best = ranks.to_vec();
    let mut best_crossings = crossings(ranks, down, &pos);
    for _ in 0..SWEEPS {
        if best_crossings == 0 {
            break;
        }
        for rank in ranks.iter_mut().skip(1) {
            barycenter(rank, up, &mut pos);
        }
        let below = ranks.len().saturating_sub(1);
        for rank in ranks[..below].iter_mut().rev() {
            barycenter(rank, down, &mut pos);
        }
        transpose(ranks, up, down, &mut pos);
        let c = crossings(ranks, down, &pos);
        if c < best_crossings {
            best_crossings = c;
            best = ranks.to_vec();
        }
    }
    ranks.clone_from_slice(&best);
}

/// Links of `a` and `b` that cross when `a` is left of `b`.
fn pair_crossings(a: usize, b: usize, neighbours: &[Vec<usize>], pos: &[usize]) -> usize {
    let mut count = 0;
    for &na in &neighbours[a] {
        for &nb in &neighbours[b] {
            if pos[na] > pos[nb] {
                count += 1;
            }
        }
    }
    count
}

/// Swaps neighbours in a band while that removes crossings (the barycenter leaves some that a
/// swap of two items would undo).
fn transpose(ranks: &mut [Vec<usize>], up: &[Vec<usize>], down: &[Vec<usize>], pos: &mut [usize]) {
    const PASSES: usize = 4;
    for _ in 0..PASSES {
        let mut improved = false;
        for rank in ranks.iter_mut() {
            for i in 1..rank.len() {
                let (a, b) = (rank[i - 1], rank[i]);
                let kept = pair_crossings(a, b, up, pos) + pair_crossings(a, b, down, pos);
                let swapped = pair_crossings(b, a, up, pos) + pair_crossings(b, a, down, pos);
                if swapped < kept {
                    rank.swap(i - 1, i);
                    pos[a] = i;
                    pos[b] = i - 1;
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
}

/// Room between two neighbours in a band.
fn gap(a: ItemOf, b: ItemOf) -> f64 {
    match (a, b) {
        (ItemOf::Node(_), ItemOf::Node(_)) => 28.0,
        (ItemOf::Node(_), _) | (_, ItemOf::Node(_)) => 16.0,
        (ItemOf::Label(_), _) | (_, ItemOf::Label(_)) => 10.0,
        (ItemOf::Dummy, ItemOf::Dummy) => 6.0,
    }
}

/// Places a band's items as near `desired` (squared distance) as their order and room allow:
/// with each item's offset from the first removed, this is an isotonic regression, solved
/// exactly by pooling adjacent violators.
fn fit(rank: &[usize], items: &mut [Item], desired: &[f64]) {
    let mut offsets = Vec::with_capacity(rank.len());
    let mut offset = 0.0;
    for (i, &item) in rank.iter().enumerate() {
        if i > 0 {
            let prev = &items[rank[i - 1]];
            offset += prev.right + gap(prev.of, items[item].of) + items[item].left;
        }
        offsets.push(offset);
    }
    // Blocks of (sum, count).
    let mut blocks: Vec<(f64, usize)> = Vec::new();
    for (d, o) in desired.iter().zip(&offsets) {
        blocks.push((d - o, 1));
        while blocks.len() > 1 {
            let (s2, c2) = blocks[blocks.len() - 1];
            let (s1, c1) = blocks[blocks.len() - 2];
            if s1 / c1 as f64 > s2 / c2 as f64 {
                blocks.pop();
                let last = blocks.len() - 1;
                blocks[last] = (s1 + s2, c1 + c2);
            } else {
                break;
            }
        }
    }
    let mut i = 0;
    for (sum, count) in blocks {
        let mean = sum / count as f64;
        for _ in 0..count {
            items[rank[i]].x = mean + offsets[i];
            i += 1;
        }
    }
}

fn mean_x(items: &[Item], item: usize, neighbours: &[&[Vec<usize>]]) -> f64 {
    let (mut sum, mut count) = (0.0, 0usize);
    for ns in neighbours {
        for &n in &ns[item] {
            sum += items[n].x;
            count += 1;
        }
    }
    if count == 0 {
        items[item].x
    } else {
        sum / count as f64
    }
}

const PLACEMENT_SWEEPS: usize = 10;

fn place(ranks: &[Vec<usize>], items: &mut [Item], up: &[Vec<usize>], down: &[Vec<usize>]) {
    for rank in ranks {
        let packed = vec![0.0; rank.len()];
        fit(rank, items, &packed);
    }
    let sweep = |items: &mut [Item], r: usize, ns: &[&[Vec<usize>]]| {
        let desired: Vec<f64> = ranks[r].iter().map(|&i| mean_x(items, i, ns)).collect();
        fit(&ranks[r], items, &desired);
    };
    for _ in 0..PLACEMENT_SWEEPS {
        for r in 1..ranks.len() {
            sweep(items, r, &[up]);
        }
        for r in (0..ranks.len().saturating_sub(1)).rev() {
            sweep(items, r, &[down]);
        }
    }
    // Last, from the top: a state between its neighbours, a line or label straight under
    // where it comes from, so that long lines run straight and bend once, into their target.
    for rank in ranks {
        let desired: Vec<f64> = rank
            .iter()
            .map(|&i| match items[i].of {
                ItemOf::Node(_) => mean_x(items, i, &[up, down]),
                _ => mean_x(items, i, &[up]),
            })
            .collect();
        fit(rank, items, &desired);
    }
    let min = items
        .iter()
        .map(|i| i.x - i.left)
        .fold(f64::INFINITY, f64::min);
    for item in items.iter_mut() {
        item.x += MARGIN - min;
    }
}

// ---------------------------------------------------------------------------------------------
// Legend

const LEGEND_MIN_W: f64 = 420.0;

/// The legend's entries: how a line or box looks, and what it means.
const LEGEND: [(LegendMark, &str); 5] = [
    (LegendMark::Line(Stroke::Solid), "action d'un intervenant"),
    (LegendMark::Line(Stroke::Dashed), "⏱ délai écoulé"),
    (LegendMark::Line(Stroke::Dotted), "↳ issue d'un dossier lié"),
    (LegendMark::Start, "début"),
    (LegendMark::Final, "état final (double bordure)"),
];

#[derive(Clone, Copy)]
enum LegendMark {
    Line(Stroke),
    Start,
    Final,
}

const LEGEND_MARK_W: f64 = 30.0;
const LEGEND_ROW: f64 = 22.0;

/// Where each legend entry goes (x, row), flowing in rows as wide as the diagram.
fn legend_layout(width: f64) -> Vec<(f64, usize)> {
    let mut out = Vec::new();
    let (mut x, mut row) = (MARGIN, 0);
    for (_, text) in LEGEND {
        let w = LEGEND_MARK_W + 6.0 + text_width(text, SMALL_SIZE, false) + 18.0;
        if x > MARGIN && x + w > width - MARGIN {
            x = MARGIN;
            row += 1;
        }
        out.push((x, row));
        x += w;
    }
    out
}

impl Diagram {
    fn with_legend_height(mut self) -> Self {
        let rows = legend_layout(self.width).last().map_or(0, |l| l.1 + 1);
        self.height = self.legend_y + rows as f64 * LEGEND_ROW + MARGIN;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Drawing

fn dash(stroke: Stroke) -> &'static str {
    match stroke {
        Stroke::Solid => "",
        Stroke::Dashed => " stroke-dasharray=\"7 4\"",
        Stroke::Dotted => " stroke-dasharray=\"2 3\"",
    }
}

fn open_svg(out: &mut String, prefix: &str, width: f64, height: f64, title: &str, desc: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" role=\"img\" \
         aria-labelledby=\"{prefix}-titre {prefix}-desc\" width=\"{width:.0}\" \
         height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"{FONT}\">\
         <title id=\"{prefix}-titre\">{}</title><desc id=\"{prefix}-desc\">{}</desc>\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>",
        esc(title),
        esc(desc)
    );
}

fn diagram_title(wf: &Workflow) -> String {
    format!(
        "Diagramme des états de la procédure « {} »",
        wf.title.trim()
    )
}

/// The SVG that stands for a diagram that is not drawn, saying why.
fn notice(wf: &Workflow, why: String) -> String {
    let lines = wrap(&why, &|s: &str| text_width(s, LABEL_SIZE, false), 560.0, 6);
    let height = 2.0 * MARGIN + lines.len() as f64 * LABEL_LINE;
    let mut out = String::new();
    open_svg(
        &mut out,
        &id_prefix(wf),
        600.0,
        height,
        &diagram_title(wf),
        &why,
    );
    for (i, line) in lines.iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{MARGIN}\" y=\"{:.1}\" font-size=\"{LABEL_SIZE}\" fill=\"{TEXT}\">{}</text>",
            MARGIN + i as f64 * LABEL_LINE + LABEL_SIZE,
            esc(line)
        );
    }
    out.push_str("</svg>");
    out
}

fn describe(wf: &Workflow, d: &Diagram) -> String {
    let mut desc = format!(
        "Diagramme des états de la procédure « {} » : {} états et {} transitions.",
        wf.title.trim(),
        wf.states.len(),
        d.moves
    );
    if let Some(initial) = wf.states.get(wf.initial.as_str()) {
        let _ = write!(desc, " État initial : {}.", initial.label.trim());
    }
    let finals: Vec<&str> = wf
        .states
        .values()
        .filter(|s| s.is_final)
        .map(|s| s.label.trim())
        .collect();
    if !finals.is_empty() {
        let _ = write!(desc, " États finaux : {}.", finals.join(" ; "));
    }
    desc
}

/// Text lines centered on `cx`, the first baseline at `y`.
fn text_lines(out: &mut String, lines: &[String], cx: f64, y: f64, line_h: f64, attrs: &str) {
    for (i, line) in lines.iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" {attrs}>{}</text>",
            y + i as f64 * line_h,
            esc(line)
        );
    }
}

/// A label on a white box, centered on (cx, cy).
fn label(out: &mut String, edge: &Edge, cx: f64, cy: f64, anchor_start: bool) {
    let (bx, tx, anchor) = if anchor_start {
        (cx - 3.0, cx, "start")
    } else {
        (cx - edge.label_w / 2.0 - 3.0, cx, "middle")
    };
    let top = cy - edge.label_h / 2.0;
    let _ = write!(
        out,
        "<rect x=\"{bx:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"3\" \
         fill=\"#ffffff\" fill-opacity=\"0.95\"/>",
        edge.label_w + 6.0,
        edge.label_h
    );
    for (i, line) in edge.lines.iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-size=\"{SMALL_SIZE}\" \
             fill=\"{TEXT}\">{}</text>",
            top + 2.0 + i as f64 * SMALL_LINE + SMALL_SIZE,
            esc(line)
        );
    }
}

fn render(wf: &Workflow, d: &Diagram) -> String {
    let prefix = id_prefix(wf);
    let mut out = String::new();
    open_svg(
        &mut out,
        &prefix,
        d.width,
        d.height,
        &diagram_title(wf),
        &describe(wf, d),
    );
    let _ = write!(
        out,
        "<defs><marker id=\"{prefix}-fleche\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" \
         markerWidth=\"9\" markerHeight=\"9\" markerUnits=\"userSpaceOnUse\" orient=\"auto\">\
         <path d=\"M0,0 L10,5 L0,10 z\" fill=\"{LINE}\"/></marker></defs>"
    );
    let arrow = format!("marker-end=\"url(#{prefix}-fleche)\"");

    for (e, edge) in d.edges.iter().enumerate() {
        if edge.from == edge.to {
            continue;
        }
        let (upper, lower) = edge.ends();
        // Points from the upper box down: straight inside each band, curved between bands.
        let (_, uy, _, uh) = d.node_box(upper);
        let (_, ly, _, _) = d.node_box(lower);
        let upper_rank = d.items[edge.path[0]].rank;
        let lower_rank = d.items[edge.path[edge.path.len() - 1]].rank;
        let mut points = vec![
            (d.ports[e].0, uy + uh),
            (d.ports[e].0, d.rank_top[upper_rank] + d.rank_h[upper_rank]),
        ];
        for &item in &edge.path[1..edge.path.len() - 1] {
            let it = &d.items[item];
            points.push((it.x, d.rank_top[it.rank]));
            points.push((it.x, d.rank_top[it.rank] + d.rank_h[it.rank]));
        }
        points.push((d.ports[e].1, d.rank_top[lower_rank]));
        points.push((d.ports[e].1, ly));
        if edge.back {
            points.reverse();
        }
        let mut path = format!("M{:.1},{:.1}", points[0].0, points[0].1);
        for (i, pair) in points.windows(2).enumerate() {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            if i % 2 == 0 {
                // A zero-length last segment would turn the arrowhead sideways.
                if (y1 - y0).abs() >= 0.5 {
                    let _ = write!(path, " L{x1:.1},{y1:.1}");
                }
            } else {
                let my = (y0 + y1) / 2.0;
                let _ = write!(path, " C{x0:.1},{my:.1} {x1:.1},{my:.1} {x1:.1},{y1:.1}");
            }
        }
        let class = if edge.start { "debut" } else { "transition" };
        let _ = write!(
            out,
            "<g class=\"{class}\"><title>{}</title><path d=\"{path}\" fill=\"none\" \
             stroke=\"{LINE}\" stroke-width=\"1.4\"{} {arrow}/>",
            esc(if edge.start {
                "Début de la procédure"
            } else {
                &edge.tooltip
            }),
            dash(edge.stroke)
        );
        if let Some(item) = edge.label_item {
            let it = &d.items[item];
            label(
                &mut out,
                edge,
                it.x,
                d.rank_top[it.rank] + d.rank_h[it.rank] / 2.0,
                false,
            );
        }
        out.push_str("</g>");
    }

    for (v, node) in d.nodes.iter().enumerate() {
        let (x, y, w, h) = d.node_box(v);
        let cx = x + w / 2.0;
        // Self-loops: out of the right side and back, labels stacked beyond the widest.
        let k = node.loops.len();
        let mut label_y = y + h / 2.0 - node.loop_h / 2.0;
        for (i, &e) in node.loops.iter().enumerate() {
            let edge = &d.edges[e];
            let reach = LOOP_REACH + LOOP_STEP * i as f64;
            let spread = (6.0 + 4.0 * i as f64).min(h / 2.0 - 4.0);
            let (xr, cy) = (x + w, y + h / 2.0);
            let _ = write!(
                out,
                "<g class=\"transition\"><title>{}</title><path d=\"M{xr:.1},{:.1} C{:.1},{:.1} \
                 {:.1},{:.1} {xr:.1},{:.1}\" fill=\"none\" stroke=\"{LINE}\" stroke-width=\"1.4\"{} \
                 {arrow}/>",
                esc(&edge.tooltip),
                cy - spread,
                xr + reach,
                cy - spread - reach / 2.0,
                xr + reach,
                cy + spread + reach / 2.0,
                cy + spread,
                dash(edge.stroke)
            );
            let lx = x + w + loop_label_x(k);
            label(&mut out, edge, lx + 3.0, label_y + edge.label_h / 2.0, true);
            label_y += edge.label_h + 4.0;
            out.push_str("</g>");
        }
        let (initial, is_final) = match node.kind {
            NodeKind::State { initial, is_final } => (initial, is_final),
            NodeKind::Start => {
                let _ = write!(
                    out,
                    "<g class=\"debut\"><title>{}</title><circle cx=\"{cx:.1}\" cy=\"{:.1}\" \
                     r=\"{START_R}\" fill=\"{TEXT}\"/></g>",
                    esc(&node.tooltip),
                    y + h / 2.0
                );
                continue;
            }
            NodeKind::Anywhere => {
                let _ = write!(
                    out,
                    "<g class=\"partout\"><title>{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" \
                     width=\"{w:.1}\" height=\"{h:.1}\" rx=\"6\" fill=\"#f3f4f6\" stroke=\"{LINE}\" \
                     stroke-width=\"1.4\" stroke-dasharray=\"5 3\"/>",
                    esc(&node.tooltip)
                );
                text_lines(
                    &mut out,
                    &node.lines,
                    cx,
                    y + PAD_Y + LABEL_SIZE,
                    LABEL_LINE,
                    &format!("font-size=\"{LABEL_SIZE}\" fill=\"{TEXT}\""),
                );
                out.push_str("</g>");
                continue;
            }
        };
        let (fill, stroke, stroke_w) = match (initial, is_final) {
            (_, true) => ("#e6f4ea", "#1e5631", 1.4),
            (true, false) => ("#fff4d6", "#7a4a00", 2.4),
            (false, false) => ("#e8f1fb", "#1f4e79", 1.4),
        };
        let _ = write!(
            out,
            "<g class=\"etat\"><title>{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" \
             height=\"{h:.1}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{stroke_w}\"/>",
            esc(&node.tooltip)
        );
        if is_final {
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"4\" \
                 fill=\"none\" stroke=\"{stroke}\" stroke-width=\"1.2\"/>",
                x + 3.5,
                y + 3.5,
                w - 7.0,
                h - 7.0
            );
        }
        let mut baseline = y + PAD_Y + LABEL_SIZE;
        text_lines(
            &mut out,
            &node.lines,
            cx,
            baseline,
            LABEL_LINE,
            &format!("font-size=\"{LABEL_SIZE}\" font-weight=\"600\" fill=\"{TEXT}\""),
        );
        baseline += node.lines.len() as f64 * LABEL_LINE + 2.0 - LABEL_SIZE + SMALL_SIZE;
        if let Some(id) = &node.id_line {
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{baseline:.1}\" text-anchor=\"middle\" \
                 font-family=\"{MONO}\" font-size=\"{SMALL_SIZE}\" fill=\"{MUTED}\">{}</text>",
                esc(id)
            );
            baseline += SMALL_LINE;
        }
        text_lines(
            &mut out,
            &node.note,
            cx,
            baseline,
            SMALL_LINE,
            &format!("font-size=\"{SMALL_SIZE}\" font-style=\"italic\" fill=\"{MUTED}\""),
        );
        out.push_str("</g>");
    }

    // Legend.
    let _ = write!(out, "<g class=\"legende\">");
    for ((mark, text), (x, row)) in LEGEND.iter().zip(legend_layout(d.width)) {
        let cy = d.legend_y + row as f64 * LEGEND_ROW + LEGEND_ROW / 2.0;
        match mark {
            LegendMark::Line(stroke) => {
                let _ = write!(
                    out,
                    "<path d=\"M{x:.1},{cy:.1} L{:.1},{cy:.1}\" stroke=\"{LINE}\" \
                     stroke-width=\"1.4\"{} {arrow}/>",
                    x + LEGEND_MARK_W,
                    dash(*stroke)
                );
            }
            LegendMark::Start => {
                let _ = write!(
                    out,
                    "<circle cx=\"{:.1}\" cy=\"{cy:.1}\" r=\"{START_R}\" fill=\"{TEXT}\"/>",
                    x + LEGEND_MARK_W - START_R
                );
            }
            LegendMark::Final => {
                let _ = write!(
                    out,
                    "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{LEGEND_MARK_W}\" height=\"14\" rx=\"3\" \
                     fill=\"#e6f4ea\" stroke=\"#1e5631\" stroke-width=\"1.4\"/>\
                     <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"8\" rx=\"2\" fill=\"none\" \
                     stroke=\"#1e5631\" stroke-width=\"1.2\"/>",
                    cy - 7.0,
                    x + 3.0,
                    cy - 4.0,
                    LEGEND_MARK_W - 6.0
                );
            }
        }
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{SMALL_SIZE}\" fill=\"{TEXT}\">{}</text>",
            x + LEGEND_MARK_W + 6.0,
            cy + 4.0,
            esc(text)
        );
    }
    out.push_str("</g></svg>");
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use engine::definition::load::{WorkflowFile, discover};
    use engine::definition::{parse, sample};

    use super::*;

    /// Checks that `text` is well-formed XML as far as this file can produce it: tags balance,
    /// attribute values are quoted, and `<` and `&` appear in text only as markup or entities.
    fn check_xml(text: &str) -> Result<(), String> {
        let mut open: Vec<&str> = Vec::new();
        let mut rest = text;
        let mut roots = 0;
        while let Some(lt) = rest.find(['<', '&']) {
            let (before, at) = rest.split_at(lt);
            if open.is_empty() && !before.trim().is_empty() {
                return Err(format!("text outside the root: {before:?}"));
            }
            if at.starts_with('&') {
                let end = at.find(';').ok_or("unterminated entity")?;
                let name = &at[1..end];
                if !["amp", "lt", "gt", "quot", "apos"].contains(&name) {
                    return Err(format!("unknown entity &{name};"));
                }
                rest = &at[end + 1..];
                continue;
            }
            let end = at.find('>').ok_or("unterminated tag")?;
            let tag = &at[1..end];
            rest = &at[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                match open.pop() {
                    Some(o) if o == name => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name_end = body.find(' ').unwrap_or(body.len());
            let name = &body[..name_end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("bad tag name in <{tag}>"));
            }
            // Attributes: name="value" pairs, values free of < and of quotes.
            let mut attrs = body[name_end..].trim();
            while !attrs.is_empty() {
                let eq = attrs
                    .find("=\"")
                    .ok_or(format!("bad attribute in <{tag}>"))?;
                let attr = &attrs[..eq];
                if attr.is_empty() || attr.contains(|c: char| c.is_whitespace() || c == '"') {
                    return Err(format!("bad attribute name {attr:?} in <{tag}>"));
                }
                let value_end = attrs[eq + 2..].find('"').ok_or("unterminated value")?;
                let value = &attrs[eq + 2..eq + 2 + value_end];
                if value.contains('<') {
                    return Err(format!("< in attribute {attr}"));
                }
                attrs = attrs[eq + 2 + value_end + 1..].trim_start();
            }
            if open.is_empty() {
                roots += 1;
            }
            if !self_closing {
                open.push(name);
            }
        }
        if !open.is_empty() || !rest.trim().is_empty() || roots != 1 {
            return Err(format!(
                "unclosed {open:?}, trailing {rest:?}, {roots} roots"
            ));
        }
        Ok(())
    }

    fn shipped() -> Vec<WorkflowFile> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
        let files: Vec<WorkflowFile> = discover(&dir)
            .expect("workflows/ exists")
            .iter()
            .map(|p| WorkflowFile::load(p).unwrap_or_else(|e| panic!("{e:?}")))
            .collect();
        assert!(files.len() >= 3, "found {} workflows", files.len());
        files
    }

    fn overlap(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
        a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
    }

    /// Every box of the layout: states (and the other nodes), labels between bands, and the
    /// area self-loops and their labels take on the right of their state.
    fn boxes(d: &Diagram) -> Vec<(String, (f64, f64, f64, f64))> {
        let mut out = Vec::new();
        for (v, node) in d.nodes.iter().enumerate() {
            let (x, y, w, h) = d.node_box(v);
            out.push((format!("node {}", node.tooltip), (x, y, w + node.loop_w, h)));
        }
        for (e, edge) in d.edges.iter().enumerate() {
            if let Some(b) = d.label_box(e) {
                out.push((format!("label {}", edge.tooltip), b));
            }
        }
        out
    }

    #[test]
    fn every_shipped_workflow_draws_one_box_per_state_and_one_arrow_per_move() {
        for file in shipped() {
            let wf = &file.workflow;
            let name = file.path.display();
            let out = svg(wf);
            check_xml(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                out.matches("<g class=\"etat\">").count(),
                wf.states.len(),
                "{name}"
            );
            assert_eq!(
                out.matches("<g class=\"transition\">").count(),
                transitions(wf).len(),
                "{name}"
            );
            assert_eq!(out.matches("<g class=\"debut\">").count(), 2, "{name}");
            assert!(
                out.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
                "{name}"
            );
            assert!(out.contains(" role=\"img\" "), "{name}");
            assert!(out.contains("<desc id=\""), "{name}");
            assert!(
                !out.contains(" style="),
                "{name}: CSP forbids inline styles"
            );
            assert_eq!(out, svg(wf), "{name}: same workflow, same drawing");
            // An arrowhead points along the last bit of its line: that bit must have a length.
            for d in out.split(" d=\"M").skip(1) {
                let d = &d[..d.find('"').unwrap()];
                let numbers: Vec<f64> = d
                    .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                    .filter(|n| !n.is_empty())
                    .map(|n| n.parse().unwrap())
                    .collect();
                let k = numbers.len();
                if k >= 4 {
                    assert!(
                        (numbers[k - 2], numbers[k - 1]) != (numbers[k - 4], numbers[k - 3]),
                        "{name}: path ends with a zero-length segment: {d}"
                    );
                }
            }

            let d = build(wf).unwrap_or_else(|_| panic!("{name} is drawn"));
            let all = boxes(&d);
            for (i, (a_name, a)) in all.iter().enumerate() {
                assert!(
                    a.0 >= 0.0 && a.1 >= 0.0 && a.0 + a.2 <= d.width && a.1 + a.3 <= d.height,
                    "{name}: {a_name} {a:?} outside {} × {}",
                    d.width,
                    d.height
                );
                for (b_name, b) in &all[i + 1..] {
                    assert!(
                        !overlap(*a, *b),
                        "{name}: {a_name} {a:?} overlaps {b_name} {b:?}"
                    );
                }
            }
        }
    }

    const SMALL: &str = r#"
id: petit
title: "Petit <exemple> & 'essai'"
legal_basis: Art. 1er
roles: { agent: Agent }
start: { by: [agent] }
initial: ouvert
timers:
  - id: peremption
    label: Péremption
    after: { years: 1 }
    goto: fin
states:
  ouvert:
    label: "<script>alert(\"x\")</script> Ouvert & en cours"
    timers:
      - id: delai
        label: Délai de réponse
        after: { working_days: 15 }
        goto: examen
    on:
      trier:
        label: Trier <vite>
        by: [agent]
        choose:
          - when: { x: 1 }
            goto: ouvert
          - goto: examen
  examen:
    label: Examen du dossier par une autorité dont le nom est extrêmement long et ne tient pas sur trois lignes de texte du tout
    on:
      renvoyer:
        by: [agent]
        goto: ouvert
      clore:
        label: Clore
        by: [agent]
        goto: fin
  fin:
    label: Fin
    final: true
    outcome: terminee
"#;

    #[test]
    fn labels_are_escaped() {
        let wf = parse(SMALL).unwrap();
        let out = svg(&wf);
        check_xml(&out).unwrap();
        assert!(
            out.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"),
            "{out}"
        );
        assert!(!out.contains("<script"), "{out}");
        assert!(out.contains("Trier &lt;vite&gt;"), "{out}");
        assert!(
            out.contains("« Petit &lt;exemple&gt; &amp; &apos;essai&apos; »"),
            "{out}"
        );
    }

    #[test]
    fn moves_are_labelled_and_states_marked() {
        let wf = parse(SMALL).unwrap();
        let out = svg(&wf);
        // A timer shows its label; its full text, with the length, is the tooltip.
        assert!(out.contains(">⏱ Délai de réponse</text>"), "{out}");
        assert!(
            out.contains("⏱ Délai de réponse (15 jours ouvrables)</title>"),
            "{out}"
        );
        // The workflow-level timer leaves one "any state" box, once.
        assert_eq!(out.matches("<g class=\"partout\">").count(), 1, "{out}");
        assert!(out.contains(">⏱ Péremption</text>"), "{out}");
        // Branches are numbered; an event without a label shows its id.
        assert!(out.contains(">(1) Trier &lt;vite&gt;</text>"), "{out}");
        assert!(out.contains(">(2) Trier &lt;vite&gt;</text>"), "{out}");
        assert!(out.contains(">renvoyer</text>"), "{out}");
        // Initial and final states say so in words, not only in colour.
        assert!(out.contains(">état initial</text>"), "{out}");
        assert!(
            out.contains(">état final · issue : terminee</text>"),
            "{out}"
        );
        assert_eq!(out.matches("fill=\"none\" stroke=\"#1e5631\"").count(), 2);
        // A label too long for three lines ends with an ellipsis; the tooltip has it whole.
        assert!(out.contains("…</text>"), "{out}");
        assert!(
            out.contains("<title>Examen du dossier par une autorité dont le nom est extrêmement long et ne tient pas sur trois lignes de texte du tout (examen)</title>"),
            "{out}"
        );
    }

    #[test]
    fn layers_go_down_from_the_initial_state_and_back_edges_go_up() {
        let wf = parse(SMALL).unwrap();
        let d = build(&wf).unwrap();
        let layer = |id: &str| d.nodes[wf.states.get_index_of(id).unwrap()].layer;
        assert_eq!((layer("ouvert"), layer("examen"), layer("fin")), (1, 2, 3));
        let backs: Vec<(usize, usize)> = d
            .edges
            .iter()
            .filter(|e| e.back)
            .map(|e| (e.from, e.to))
            .collect();
        // examen → ouvert is the only move back up; ouvert → ouvert is a self-loop.
        assert_eq!(backs, [(1, 0)]);
        assert_eq!(d.nodes[0].loops.len(), 1);
        for (e, edge) in d.edges.iter().enumerate() {
            if edge.from == edge.to {
                continue;
            }
            let (upper, lower) = if edge.back {
                (edge.to, edge.from)
            } else {
                (edge.from, edge.to)
            };
            let (ux, uy, uw, uh) = d.node_box(upper);
            let (lx, ly, lw, _) = d.node_box(lower);
            assert!(uy + uh < ly, "edge {e} goes down its layout");
            assert!(
                (ux..=ux + uw).contains(&d.ports[e].0),
                "edge {e} leaves its box"
            );
            assert!(
                (lx..=lx + lw).contains(&d.ports[e].1),
                "edge {e} reaches its box"
            );
        }
    }

    #[test]
    fn too_large_workflows_get_a_notice_instead() {
        let wf = parse(&sample::chain(MAX_STATES + 1)).unwrap();
        let out = svg(&wf);
        check_xml(&out).unwrap();
        assert!(out.contains("301 états"), "{out}");
        assert!(!out.contains("class=\"etat\""), "{out}");
        assert!(out.contains("role=\"img\""), "{out}");

        let wf = parse(&sample::many_events(MAX_MOVES + 1)).unwrap();
        let out = svg(&wf);
        assert!(out.contains("trop pour un schéma lisible"), "{out}");
        // 400 moves side by side would be far too wide; 200 still fit.
        let wide = svg(&parse(&sample::many_events(400)).unwrap());
        assert!(wide.contains("trop pour un schéma lisible"), "{wide}");
        let fits = svg(&parse(&sample::many_events(200)).unwrap());
        assert_eq!(fits.matches("<g class=\"transition\">").count(), 200);

        // The largest workflow still drawn is drawn.
        let wf = parse(&sample::chain(MAX_STATES)).unwrap();
        let out = svg(&wf);
        check_xml(&out).unwrap();
        assert_eq!(out.matches("<g class=\"etat\">").count(), MAX_STATES);
    }

    #[test]
    fn wrap_keeps_lines_within_width_and_marks_cuts() {
        let measure = |s: &str| s.chars().count() as f64;
        assert_eq!(
            wrap("un deux trois", &measure, 7.0, 3),
            ["un deux", "trois"]
        );
        assert_eq!(
            wrap("un deux trois quatre", &measure, 7.0, 2),
            ["un deux", "trois…"]
        );
        assert_eq!(
            wrap("anticonstitutionnellement", &measure, 10.0, 3),
            ["anticonsti", "tutionnell", "ement"]
        );
        assert_eq!(wrap("", &measure, 10.0, 3), [""]);
        assert_eq!(esc("a\u{1}<b>&\"'"), "a &lt;b&gt;&amp;&quot;&apos;");
    }
}

#!/usr/bin/env python3
"""Parses a Graphviz DOT graph from stdin with pydot (an independent DOT grammar) and prints
its nodes and edges as JSON: {"name": ..., "nodes": [...], "edges": [[from, to, label], ...]}.
Exits 1 when the text is not valid DOT. Used by the `jalon graph --format dot` tests."""

import json
import sys

import pydot


def unquote(s):
    if s is None:
        return None
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        s = s[1:-1]
        out, i = [], 0
        while i < len(s):
            if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in '"\\':
                out.append(s[i + 1])
                i += 2
            else:
                out.append(s[i])
                i += 1
        return "".join(out)
    return s


def main():
    text = sys.stdin.read()
    try:
        graphs = pydot.graph_from_dot_data(text)
    except Exception as e:  # pydot raises on grammar errors in recent versions
        print(f"not DOT: {e}", file=sys.stderr)
        return 1
    if not graphs or len(graphs) != 1:
        print("not exactly one DOT graph", file=sys.stderr)
        return 1
    g = graphs[0]
    nodes = [unquote(n.get_name()) for n in g.get_nodes() if n.get_name() not in ("node", "edge", "graph")]
    edges = [
        [unquote(e.get_source()), unquote(e.get_destination()), unquote(e.get("label"))]
        for e in g.get_edges()
    ]
    print(json.dumps({"name": unquote(g.get_name()), "directed": g.get_type() == "digraph", "nodes": nodes, "edges": edges}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

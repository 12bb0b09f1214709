"""flowyml.render: status lines and the DAG as text, HTML and SVG, with and without `dot`."""

from __future__ import annotations

import html
import itertools
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import graphviz
import networkx as nx
import pytest

from flowyml import render

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")

ALL_STATES = [
    "pending", "running", "done", "cached", "stale", "failed", "skipped", "timed_out",
    "interrupted", "upstream_failed",
]
HOSTILE = [
    'a"b', "<script>alert(1)</script>", "x:y", "back\\", "node", "two\nlines", "&amp;", "a & b",
]
SVG_NS = {"svg": "http://www.w3.org/2000/svg"}


def chain(*names: str, artifacts: dict[tuple[str, str], list[str]] | None = None) -> nx.DiGraph:
    """A graph shaped like build_dag's: nodes carry ``index``, edges ``artifacts``."""
    graph = nx.DiGraph()
    for index, name in enumerate(names):
        graph.add_node(name, index=index)
    for tail, head in itertools.pairwise(names):
        graph.add_edge(tail, head, artifacts=(artifacts or {}).get((tail, head), [f"{tail}_out"]))
    return graph


def no_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render.shutil, "which", lambda name: None)


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted([_luminance(a), _luminance(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


# ---------------------------------------------------------------------------------------
# colours and words
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ALL_STATES)
def test_every_state_has_explicit_readable_colours(state):
    style = render.STATE_COLORS[state]
    for colour in style:
        assert re.fullmatch(r"#[0-9a-f]{6}", colour), f"{state}: {colour} is not #rrggbb"
    # the text sits on the state's own fill, so it reads on light and dark pages alike
    assert contrast(style.font, style.fill) >= 4.5, state


def test_states_are_told_apart_by_colour():
    fills = [render.STATE_COLORS[s].fill for s in ALL_STATES]
    assert len(set(fills)) == len(fills)


def test_unknown_state_gets_a_neutral_style_instead_of_an_error():
    assert render.state_style("brand_new") == render.UNKNOWN_STYLE
    assert render.state_label("brand_new") == "brand new"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0004, "<1 ms"), (0.25, "250 ms"), (3.21, "3.2 s"), (125, "2 min 5 s"), (3725, "1 h 2 min")],
)
def test_format_seconds(seconds, text):
    assert render.format_seconds(seconds) == text


@pytest.mark.parametrize(
    ("state", "details", "text"),
    [
        ("pending", {}, "pending"),
        ("running", {"attempts": 1}, "running…"),
        ("running", {"attempts": 2, "reason": "retrying after ValueError: x"},
         "running… (attempt 2): retrying after ValueError: x"),
        ("done", {"duration": 1.5, "attempts": 1}, "done in 1.5 s"),
        ("done", {"duration": 1.5, "attempts": 3}, "done in 1.5 s (3 attempts)"),
        ("cached", {"time_saved": 3.2, "duration": 0.001}, "cached (saved 3.2 s)"),
        ("stale", {"reason": "input 'df' changed"}, "stale: input 'df' changed"),
        ("failed", {"duration": 0.5, "attempts": 2, "error": "ValueError: bad"},
         "failed after 500 ms (2 attempts): ValueError: bad"),
        ("failed", {"error": "Traceback (most recent call last):\n  File x\nKeyError: 'k'"},
         "failed: KeyError: 'k'"),
        ("skipped", {"reason": "condition was false"}, "skipped: condition was false"),
        ("timed_out", {"duration": 5.0}, "timed out after 5.0 s"),
        ("interrupted", {}, "interrupted"),
        ("upstream_failed", {"reason": "'load' failed"}, "upstream failed: 'load' failed"),
    ],
)
def test_describe_state(state, details, text):
    assert render.describe_state(state, **details) == text


def test_status_text_names_the_step():
    text = render.status_to_text("load", "cached", time_saved=3.2)
    assert text == "step 'load': cached (saved 3.2 s)"


@pytest.mark.parametrize("state", ALL_STATES)
def test_status_html_is_coloured_by_state(state):
    out = render.status_to_html("load", state)
    style = render.STATE_COLORS[state]
    assert f"background:{style.fill}" in out and f"color:{style.font}" in out
    assert f'data-state="{state}"' in out


def test_status_html_escapes_name_error_and_reason():
    out = render.status_to_html(
        "<script>x</script>", "failed", error='Traceback\nValueError: <img src=x onerror="y">'
    )
    assert "<script>" not in out and "<img" not in out
    assert html.escape("<script>x</script>") in out
    assert "<details" in out  # the full error is one click away


# ---------------------------------------------------------------------------------------
# the DAG
# ---------------------------------------------------------------------------------------


def test_dot_source_colours_nodes_and_labels_edges():
    graph = chain("load", "clean", "train", artifacts={("load", "clean"): ["raw", "meta"]})
    graph.add_edge("load", "train", artifacts=["load"])  # an output named like its step
    source = render.dag_to_dot(graph, {"load": "cached", "clean": "failed"})
    for state in ("cached", "failed", "pending"):
        style = render.STATE_COLORS[state]
        assert f'fillcolor="{style.fill}"' in source and f'fontcolor="{style.font}"' in source
    assert 'label="raw, meta"' in source
    assert 'label=clean_out' in source
    assert "n0 -> n2\n" in source.replace("\t", "")  # no label repeating the step's name


@needs_dot
def test_hostile_names_survive_dot_and_svg():
    graph = chain(*HOSTILE)
    svg = render.dag_to_svg(graph, dict.fromkeys(HOSTILE, "done"))
    assert svg is not None and svg.startswith("<svg")
    root = ET.fromstring(svg)  # well-formed XML: nothing leaked out of its text
    nodes = root.findall(".//svg:g[@class]", SVG_NS)
    node_groups = [g for g in nodes if "flowyml-node" in g.get("class", "")]
    assert len(node_groups) == len(HOSTILE)
    text_tag = f"{{{SVG_NS['svg']}}}text"
    texts = ["\n".join(t.text or "" for t in g.iter(text_tag)) for g in node_groups]
    for name in HOSTILE:
        assert any(text.startswith(name + "\n") for text in texts), (name, texts)
    assert "<script>" not in svg


@needs_dot
@pytest.mark.parametrize("state", ALL_STATES)
def test_svg_nodes_carry_state_fill_and_class(state):
    svg = render.dag_to_svg(chain("only"), {"only": state})
    assert f'fill="{render.STATE_COLORS[state].fill}"' in svg
    assert f"flowyml&#45;state&#45;{state}" in svg


@needs_dot
def test_html_wraps_svg_in_a_scrollable_box_with_legend():
    out = render.dag_to_html(chain("load", "train"), {"load": "done", "train": "running"})
    assert 'class="flowyml-dag flowyml-dag-graph"' in out
    assert re.search(r'class="flowyml-dag-svg" style="overflow:auto;[^"]*max-height', out)
    assert "<?xml" not in out and "<!DOCTYPE" not in out
    legend = out[out.index("flowyml-dag-legend"):]
    assert ">done<" in legend and ">running<" in legend
    assert render.INSTALL_HINT not in out


def test_without_dot_binary_html_is_a_plain_table_in_topological_order(monkeypatch):
    no_dot(monkeypatch)
    graph = nx.DiGraph()
    for index, name in enumerate(["report", "load", "clean"]):  # added out of order
        graph.add_node(name, index=index)
    graph.add_edge("load", "clean", artifacts=["raw"])
    graph.add_edge("clean", "report", artifacts=["df", "stats"])
    assert render.dag_to_svg(graph, {}) is None
    out = render.dag_to_html(graph, {"load": "cached", "clean": "stale"})
    assert "flowyml-dag-plain" in out and "<svg" not in out
    rows = re.findall(r"<td [^>]*><b>([^<]*)</b></td>", out)
    assert rows == ["load", "clean", "report"]
    assert "raw ← load" in out and "df ← clean, stats ← clean" in out
    assert "Install Graphviz (e.g. <code>apt-get install graphviz</code>) for a drawn DAG" in out
    assert f"background:{render.STATE_COLORS['stale'].fill}" in out


def test_dot_that_fails_to_run_falls_back_to_plain(monkeypatch):
    monkeypatch.setattr(render.shutil, "which", lambda name: "/usr/bin/dot")

    def missing(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Source, "pipe", missing)
    out = render.dag_to_html(chain("a", "b"), {})
    assert "flowyml-dag-plain" in out and "Install Graphviz" in out


def test_plain_table_escapes_hostile_names(monkeypatch):
    no_dot(monkeypatch)
    graph = chain(*HOSTILE)
    out = render.dag_to_html(graph, {})
    assert "<script>" not in out
    assert out.count("<tr class=\"flowyml-node") == len(HOSTILE)
    assert html.escape('a"b') in out


def test_context_inputs_are_listed_for_a_step():
    class FakeStep:
        inputs = ["raw", "threshold"]

    graph = chain("load", "clean", artifacts={("load", "clean"): ["raw"]})
    graph.nodes["clean"]["step"] = FakeStep()
    assert render.step_inputs(graph, "clean") == ["raw ← load", "threshold"]


def test_empty_graph_says_so():
    out = render.dag_to_html(nx.DiGraph(), {})
    assert "No steps yet" in out


def test_text_summary_lists_steps_in_order():
    text = render.dag_to_text(chain("load", "train"), {"load": "cached"})
    assert text.splitlines() == [
        "flowyml DAG: 2 steps",
        "  load: cached",
        "  train: pending  (reads load_out ← load)",
    ]


def test_import_is_light():
    code = (
        "import sys, flowyml.render\n"
        "bad = [m for m in ('IPython', 'ipywidgets', 'graphviz', 'networkx') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""

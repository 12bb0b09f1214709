"""Render step states and the step DAG as text, HTML and SVG — no notebook needed.

The widgets in :mod:`flowyml_jupyter.widgets` show what this module draws, and embed the
same HTML as their static representation, so a saved notebook opened without a kernel
(nbconvert, GitHub) shows the last state. Nothing here imports IPython or ipywidgets; the
``graphviz`` package and networkx are imported only when a DAG is drawn, and the ``dot``
binary is optional: without it :func:`dag_to_html` falls back to a plain table of steps in
topological order with a one-line install hint.

Every state has an explicit fill *and* font colour, so nodes and badges read the same on
light and dark themes; edges and their labels are a mid grey that shows on both.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import networkx as nx


class StateStyle(NamedTuple):
    """How one step state looks: background ``fill``, ``font`` colour and ``border``."""

    fill: str
    font: str
    border: str


#: colours per step state; each ``font`` has at least 4.5:1 contrast on its ``fill``
STATE_COLORS: dict[str, StateStyle] = {
    "pending": StateStyle("#e5e7eb", "#1f2937", "#9ca3af"),
    "running": StateStyle("#1d4ed8", "#ffffff", "#1e3a8a"),
    "done": StateStyle("#15803d", "#ffffff", "#14532d"),
    "cached": StateStyle("#a7f3d0", "#064e3b", "#047857"),
    "stale": StateStyle("#fde68a", "#78350f", "#d97706"),
    "failed": StateStyle("#b91c1c", "#ffffff", "#7f1d1d"),
    "skipped": StateStyle("#d1d5db", "#374151", "#6b7280"),
    "timed_out": StateStyle("#c2410c", "#ffffff", "#7c2d12"),
    "interrupted": StateStyle("#6d28d9", "#ffffff", "#4c1d95"),
    "upstream_failed": StateStyle("#fecaca", "#7f1d1d", "#dc2626"),
}

#: the style of a state this module does not know (drawn neutrally rather than failing)
UNKNOWN_STYLE = StateStyle("#f3f4f6", "#111827", "#6b7280")

#: what each state reads as, for people
STATE_LABELS: dict[str, str] = {
    "pending": "pending",
    "running": "running",
    "done": "done",
    "cached": "cached",
    "stale": "stale",
    "failed": "failed",
    "skipped": "skipped",
    "timed_out": "timed out",
    "interrupted": "interrupted",
    "upstream_failed": "upstream failed",
}

#: states after which a step does nothing more until it is run again
SETTLED_STATES = frozenset(STATE_COLORS) - {"pending", "running"}

#: shown instead of the drawing when Graphviz's ``dot`` program is missing
INSTALL_HINT = "Install Graphviz (e.g. `apt-get install graphviz`) for a drawn DAG"

_EDGE_COLOR = "#808080"  # mid grey: visible on white and on dark backgrounds
#: edge labels follow the front end's secondary text colour where it has one (JupyterLab's
#: light and dark themes: >= 4.5:1); elsewhere a grey that reads on white
_EDGE_TEXT_CSS = ".flowyml-dag-svg .edge text{fill:var(--jp-ui-font-color2,#595959)}"
_FONT = "Helvetica,Arial,sans-serif"
_MAX_HEIGHT_PX = 640
_XML_PROLOG = re.compile(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->", re.DOTALL)


def state_style(state: str) -> StateStyle:
    """The colours of ``state`` (a neutral style for a state this module does not know)."""
    return STATE_COLORS.get(state, UNKNOWN_STYLE)


def state_label(state: str) -> str:
    """``state`` as a person reads it: ``timed_out`` -> ``timed out``."""
    return STATE_LABELS.get(state, state.replace("_", " "))


def format_seconds(seconds: float) -> str:
    """A short human duration: ``850 ms``, ``3.2 s``, ``2 min 5 s``, ``1 h 3 min``."""
    if seconds < 0.001:
        return "<1 ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


# ---------------------------------------------------------------------------------------
# one step's status
# ---------------------------------------------------------------------------------------


def describe_state(
    state: str,
    *,
    duration: float | None = None,
    attempts: int | None = None,
    error: str | None = None,
    time_saved: float | None = None,
    reason: str | None = None,
) -> str:
    """One line saying what a step's ``state`` means: ``cached (saved 3.2 s)``,
    ``failed after 1.0 s (2 attempts): ValueError: bad``, ``stale: code changed``."""
    text = state_label(state)
    if state == "running":
        text = "running…"
        if attempts and attempts > 1:
            text += f" (attempt {attempts})"
        return f"{text}: {reason}" if reason else text
    if state == "cached" and time_saved:
        text += f" (saved {format_seconds(time_saved)})"
    elif state in ("done", "failed", "timed_out", "interrupted") and duration is not None:
        text += f" {'in' if state == 'done' else 'after'} {format_seconds(duration)}"
    if attempts and attempts > 1 and state != "cached":
        text += f" ({attempts} attempts)"
    detail = reason
    if error and state in ("failed", "timed_out", "interrupted", "upstream_failed"):
        detail = _first_line(error)
    if detail:
        text += f": {detail}"
    return text


def status_to_text(
    step_name: str,
    state: str,
    *,
    duration: float | None = None,
    attempts: int | None = None,
    error: str | None = None,
    time_saved: float | None = None,
    reason: str | None = None,
) -> str:
    """Plain-text status of one step, e.g. ``step 'load': cached (saved 3.2 s)``."""
    description = describe_state(
        state, duration=duration, attempts=attempts, error=error,
        time_saved=time_saved, reason=reason,
    )
    return f"step '{step_name}': {description}"


def status_to_html(
    step_name: str,
    state: str,
    *,
    duration: float | None = None,
    attempts: int | None = None,
    error: str | None = None,
    time_saved: float | None = None,
    reason: str | None = None,
) -> str:
    """The status line of one step as self-contained HTML: a coloured state badge, the
    step's name, the description, and (for failures) the full error in a ``<details>``.

    Everything user-provided is escaped; the badge carries its own colours, the rest
    inherits the page's, so it reads on light and dark themes.
    """
    description = describe_state(
        state, duration=duration, attempts=attempts, error=error,
        time_saved=time_saved, reason=reason,
    )
    name = html.escape(step_name)
    line = (
        f'<div class="flowyml-status" data-step="{name}" data-state="{html.escape(state)}" '
        'style="font-family:' + _FONT + ';font-size:13px;line-height:1.7">'
        f'<b class="flowyml-status-step">{name}</b> {badge(state, description)}'
    )
    if error and state in ("failed", "timed_out", "interrupted", "upstream_failed"):
        line += (
            '<details style="margin-top:2px"><summary style="cursor:pointer">error</summary>'
            '<pre style="white-space:pre-wrap;margin:4px 0;max-height:240px;overflow:auto">'
            f"{html.escape(error)}</pre></details>"
        )
    return line + "</div>"


def badge(state: str, text: str | None = None) -> str:
    """A pill in the state's own colours showing ``text`` (default: the state's label)."""
    style = state_style(state)
    return (
        f'<span class="flowyml-badge flowyml-state-{_css_token(state)}" '
        f"style=\"background:{style.fill};color:{style.font};border:1px solid {style.border};"
        'border-radius:3px;padding:0 6px;font-size:12px">'
        f"{html.escape(text if text is not None else state_label(state))}</span>"
    )


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    # a traceback's last line is the exception itself; a plain message's first line is it
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return line if len(line) <= 200 else line[:199] + "…"


# ---------------------------------------------------------------------------------------
# the DAG
# ---------------------------------------------------------------------------------------


def step_order(graph: nx.DiGraph) -> list[str]:
    """Steps dependencies-first, ties broken by the order they were added (``index``)."""
    import networkx as nx

    position = {node: i for i, node in enumerate(graph.nodes)}

    def key(node: Any) -> Any:
        return graph.nodes[node].get("index", position[node])

    try:
        return list(nx.lexicographical_topological_sort(graph, key=key))
    except nx.NetworkXUnfeasible:  # a cycle: still show every step
        return sorted(graph.nodes, key=key)


def step_inputs(graph: nx.DiGraph, node: Any) -> list[str]:
    """What a step reads, as ``artifact ← producer`` (or the bare name for context inputs)."""
    inputs: list[str] = []
    covered: set[str] = set()
    for producer in graph.predecessors(node):
        artifacts = graph.edges[producer, node].get("artifacts") or [str(producer)]
        for artifact in artifacts:
            inputs.append(f"{artifact} ← {producer}")
            covered.add(str(artifact))
    step = graph.nodes[node].get("step")
    for name in getattr(step, "inputs", None) or ():
        if name not in covered:
            inputs.append(str(name))
    return inputs


def dag_to_dot(graph: nx.DiGraph, states: Mapping[str, str]) -> str:
    """DOT source of ``graph`` with nodes filled by ``states`` (missing -> ``pending``).

    Nodes get synthetic DOT ids (``n0``, ``n1``...), the step name travels in the escaped
    label and tooltip, so a name like ``a"b``, ``x:y`` or ``<script>`` cannot break the
    DOT (quotes, ports, HTML-like labels) nor the SVG. Edges are labelled with the
    artifacts they carry, unless that is just the producing step's own name.
    """
    import graphviz

    dot = graphviz.Digraph("flowyml")
    dot.attr(bgcolor="transparent", rankdir="TB", nodesep="0.35", ranksep="0.45")
    dot.attr("node", shape="box", style="rounded,filled", fontname=_FONT, fontsize="12",
             penwidth="1.4", margin="0.15,0.06")
    dot.attr("edge", color=_EDGE_COLOR, fontcolor=_EDGE_COLOR, fontname=_FONT,
             fontsize="10", arrowsize="0.7")
    ids: dict[Any, str] = {}
    for i, node in enumerate(step_order(graph)):
        ids[node] = f"n{i}"
        name = str(node)
        state = states.get(node, "pending")
        style = state_style(state)
        dot.node(
            ids[node],
            label=graphviz.nohtml(_dot_text(name) + r"\n" + _dot_text(state_label(state))),
            tooltip=_dot_text(f"{name}: {state_label(state)}"),
            fillcolor=style.fill,
            fontcolor=style.font,
            color=style.border,
            **{"class": f"flowyml-node flowyml-state-{_css_token(state)}"},
        )
    for tail, head, data in graph.edges(data=True):
        artifacts = [str(a) for a in data.get("artifacts") or ()]
        label = None if artifacts in ([], [str(tail)]) else ", ".join(artifacts)
        dot.edge(ids[tail], ids[head], label=_dot_text(label) if label else None)
    return dot.source


def _dot_text(text: str) -> str:
    """``text`` shown literally by ``dot``: no escape sequences (``\\n``), no HTML-like
    label, and no entity references (``dot`` would turn ``&amp;`` into ``&``)."""
    import graphviz

    return graphviz.escape(text.replace("&", "&amp;"))


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` program is on ``PATH``."""
    return shutil.which("dot") is not None


def dot_to_svg(source: str) -> str | None:
    """Run ``dot`` on DOT ``source``: an inline ``<svg>`` element, or ``None`` when ``dot``
    is missing or fails. The XML prolog, doctype and comments are stripped so the result
    embeds in HTML."""
    if not dot_available():
        return None
    import graphviz

    try:
        svg = graphviz.Source(source).pipe(format="svg", encoding="utf-8")
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, OSError):
        return None
    return _XML_PROLOG.sub("", svg).strip()


def dag_to_svg(graph: nx.DiGraph, states: Mapping[str, str]) -> str | None:
    """The DAG drawn by ``dot`` as an inline ``<svg>`` element, or ``None`` without ``dot``."""
    if not dot_available():
        return None
    return dot_to_svg(dag_to_dot(graph, states))


def dag_to_html(graph: nx.DiGraph, states: Mapping[str, str]) -> str:
    """The DAG as self-contained HTML: the SVG in a scrollable box plus a colour legend, or,
    without ``dot``, a table of steps in topological order (state, inputs) and the hint
    :data:`INSTALL_HINT`. Every name is HTML-escaped."""
    svg = dag_to_svg(graph, states) if graph.number_of_nodes() else None
    return dag_html(graph, states, svg)


def dag_html(graph: nx.DiGraph, states: Mapping[str, str], svg: str | None) -> str:
    """:func:`dag_to_html` around an SVG already drawn (``None``: the plain fallback)."""
    if graph.number_of_nodes() == 0:
        return (
            '<div class="flowyml-dag flowyml-dag-empty" style="font-family:' + _FONT + '">'
            "No steps yet: run a <code>%%step</code> cell or add steps to the pipeline.</div>"
        )
    used = [states.get(node, "pending") for node in graph.nodes]
    if svg is None:
        body = _plain_table(graph, states)
        hint = html.escape(INSTALL_HINT).replace("`apt-get install graphviz`",
                                                 "<code>apt-get install graphviz</code>")
        footer = f'<div class="flowyml-dag-hint" style="font-size:12px;opacity:0.8">{hint}</div>'
        kind = "flowyml-dag-plain"
    else:
        body = (
            f"<style>{_EDGE_TEXT_CSS}</style>"
            f'<div class="flowyml-dag-svg" style="overflow:auto;max-width:100%;'
            f'max-height:{_MAX_HEIGHT_PX}px">{svg}</div>'
        )
        footer = ""
        kind = "flowyml-dag-graph"
    return (
        f'<div class="flowyml-dag {kind}" style="font-family:{_FONT};font-size:13px">'
        f"{body}{_legend(used)}{footer}</div>"
    )


def dag_to_text(graph: nx.DiGraph, states: Mapping[str, str]) -> str:
    """A plain-text summary of the DAG: one line per step in order, with its state."""
    lines = [f"flowyml DAG: {graph.number_of_nodes()} steps"]
    for node in step_order(graph):
        inputs = step_inputs(graph, node)
        reads = f"  (reads {', '.join(inputs)})" if inputs else ""
        lines.append(f"  {node}: {state_label(states.get(node, 'pending'))}{reads}")
    return "\n".join(lines)


def _plain_table(graph: nx.DiGraph, states: Mapping[str, str]) -> str:
    cell = 'style="text-align:left;padding:2px 8px;vertical-align:top"'
    rows = [
        f"<tr><th {cell}>#</th><th {cell}>step</th><th {cell}>state</th>"
        f"<th {cell}>inputs</th></tr>"
    ]
    for i, node in enumerate(step_order(graph), start=1):
        state = states.get(node, "pending")
        inputs = ", ".join(html.escape(x) for x in step_inputs(graph, node)) or "—"
        rows.append(
            f'<tr class="flowyml-node flowyml-state-{_css_token(state)}"><td {cell}>{i}</td>'
            f"<td {cell}><b>{html.escape(str(node))}</b></td><td {cell}>{badge(state)}</td>"
            f"<td {cell}>{inputs}</td></tr>"
        )
    return (
        '<div style="overflow:auto;max-width:100%;max-height:' + str(_MAX_HEIGHT_PX) + 'px">'
        '<table class="flowyml-dag-table" style="border-collapse:collapse">'
        + "".join(rows)
        + "</table></div>"
    )


def _legend(used: list[str]) -> str:
    known = [s for s in STATE_COLORS if s in used]
    unknown = sorted({s for s in used if s not in STATE_COLORS})
    chips = " ".join(badge(state) for state in [*known, *unknown])
    return f'<div class="flowyml-dag-legend" style="margin-top:4px">{chips}</div>'


def _css_token(state: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", state)

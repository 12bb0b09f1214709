"""The step DAG on networkx: build it from declared inputs/outputs, order it, explain errors.

Nodes are step names (attribute ``step``); an edge ``a -> b`` carries the artifact names
``b`` reads from ``a``. Errors are raised at build time with the names a user needs:
the cycle's path, both producers of an output, or the missing input with close matches.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx as nx


class PipelineGraphError(ValueError):
    """The pipeline's steps do not form a valid DAG."""


class CycleError(PipelineGraphError):
    """Steps depend on each other in a circle."""


class DuplicateOutputError(PipelineGraphError):
    """Two steps produce the same output."""


class MissingInputError(PipelineGraphError):
    """A step reads an input that no step produces and the context does not give."""


class DuplicateStepError(PipelineGraphError):
    """Two different steps in one pipeline have the same name."""


class UnboundInputError(PipelineGraphError):
    """A step declares an input that no parameter of its function can receive."""


def check_inputs_bound(step: Any) -> None:
    """Raise :class:`UnboundInputError` naming ``step`` and each input its function can't take."""
    unbound = list(getattr(step, "unbound_inputs", None) or ())
    if not unbound:
        return
    which = ", ".join(repr(i) for i in unbound)
    first = unbound[0]
    raise UnboundInputError(
        f"step '{step.name}' declares input{'s' if len(unbound) > 1 else ''} {which} but its "
        f"function has no parameter left to receive {'them' if len(unbound) > 1 else 'it'} "
        f"(parameters: {list(getattr(step, 'parameters', []))}). Add a parameter named "
        f"'{first}' to the function (or **kwargs), or remove '{first}' from inputs=[...]."
    )


def step_needs(step: Any) -> list[str]:
    """Artifact names a step reads: declared inputs, then those its condition asks for."""
    needs = list(step.inputs)
    for name in getattr(step, "condition_params", ()):
        if name not in needs:
            needs.append(name)
    return needs


class StepGraph:
    """A validated step DAG in plain dicts: all a run needs, without networkx.

    ``steps`` maps each step name to its step, in the order added; ``edges`` maps
    ``(producer, consumer)`` to the artifact names the consumer reads from the producer;
    ``producers`` maps each output to its step; ``order`` is :func:`topological_order`'s
    order. :meth:`to_networkx` gives the same graph as a ``networkx.DiGraph`` (what
    :func:`build_dag` returns), for the walks, drawings and tools that want one.
    """

    __slots__ = ("edges", "order", "producers", "steps")

    def __init__(self, steps: dict[str, Any], edges: dict[tuple[str, str], list[str]],
                 producers: dict[str, str], order: list[str]) -> None:
        self.steps, self.edges, self.producers, self.order = steps, edges, producers, order

    def to_networkx(self) -> nx.DiGraph:
        """The graph as ``networkx.DiGraph``: nodes with attributes ``step`` and ``index``,
        edges with ``artifacts``, in the order :func:`build_dag` has always added them."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from((name, {"step": step, "index": index})
                             for index, (name, step) in enumerate(self.steps.items()))
        graph.add_edges_from((u, v, {"artifacts": artifacts}) for (u, v), artifacts in self.edges.items())
        return graph


def plan_dag(steps: Sequence[Any], available: Iterable[str] = ()) -> StepGraph:
    """Validate ``steps`` as :func:`build_dag` does (same errors, same order) and return the
    DAG as a :class:`StepGraph`, in time linear in steps and edges, without networkx."""
    nodes: dict[str, Any] = {}
    producers: dict[str, str] = {}
    for step in steps:
        name = step.name
        known = nodes.get(name)
        if known is not None:
            if known is step:
                continue
            raise DuplicateStepError(
                f"two different steps are named '{name}'; give one a different name= "
            )
        check_inputs_bound(step)
        nodes[name] = step
        for out in step.outputs or [name]:
            other = producers.get(out)
            if other is not None and other != name:
                raise DuplicateOutputError(
                    f"output '{out}' is produced by two steps: '{other}' and "
                    f"'{name}'. Rename one of the outputs."
                )
            producers[out] = name
    available = set(available)
    edges: dict[tuple[str, str], list[str]] = {}
    for name, step in nodes.items():
        for need in step_needs(step):
            producer = producers.get(need)
            if producer is None:
                if need in step.inputs and need not in available:
                    import difflib

                    close = difflib.get_close_matches(need, [*producers, *available], n=3)
                    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                    raise MissingInputError(
                        f"step '{name}' needs input '{need}', but no step produces it and the "
                        f"context does not provide it.{hint} Add a step with outputs=['{need}'] "
                        f"or pass it as context: pipeline.run({need}=...)."
                    )
                continue
            if producer == name:
                raise CycleError(f"step '{name}' reads its own output '{need}'")
            artifacts = edges.get((producer, name))
            if artifacts is None:
                edges[producer, name] = [need]
            else:
                artifacts.append(need)
    graph = StepGraph(nodes, edges, producers, [])
    graph.order = _ordered(graph)
    return graph


def build_dag(steps: Sequence[Any], available: Iterable[str] = ()) -> nx.DiGraph:
    """Build the DAG of ``steps``; ``available`` are names the context provides.

    A declared input no step produces is taken from the context when present there;
    otherwise it is a :class:`MissingInputError`. A declared input the step's function has
    no parameter for is an :class:`UnboundInputError`. A condition parameter nobody produces is
    simply a context lookup (checked when the condition runs).
    """
    return plan_dag(steps, available).to_networkx()


def _ordered(graph: StepGraph) -> list[str]:
    """The deterministic topological order (ties broken by the order steps were added), or
    :class:`CycleError` naming a cycle.

    Steps are usually added after what they read, and then that order is the answer: a
    lexicographic topological sort keyed by position returns it unchanged. Otherwise Kahn's
    algorithm with a heap of positions gives what ``lexicographical_topological_sort`` gives.
    """
    names = list(graph.steps)
    position = {name: i for i, name in enumerate(names)}
    if all(position[u] < position[v] for u, v in graph.edges):
        return names
    indegree = dict.fromkeys(names, 0)
    successors: dict[str, list[str]] = {name: [] for name in names}
    for u, v in graph.edges:
        indegree[v] += 1
        successors[u].append(v)
    ready = [position[n] for n in names if indegree[n] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for nxt in successors[name]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, position[nxt])
    if len(order) < len(names):
        _check_acyclic(graph.to_networkx())  # raises CycleError naming a cycle
    return order


def _check_acyclic(graph: nx.DiGraph) -> None:
    import networkx as nx

    if nx.is_directed_acyclic_graph(graph):
        return
    cycle = nx.find_cycle(graph)  # only to explain the error
    path = [edge[0] for edge in cycle] + [cycle[0][0]]
    raise CycleError(
        "the steps form a cycle: "
        + " -> ".join(path)
        + ". Break it by removing one of these inputs: "
        + ", ".join(f"'{v}' reads {graph.edges[u, v]['artifacts']} from '{u}'" for u, v in cycle)
    )


def topological_order(graph: nx.DiGraph | StepGraph) -> list[str]:
    """A deterministic order: dependencies first, ties broken by the order steps were added."""
    if isinstance(graph, StepGraph):
        return list(graph.order)
    import networkx as nx

    index = nx.get_node_attributes(graph, "index")
    return list(nx.lexicographical_topological_sort(graph, key=index.__getitem__))


def descendants(graph: nx.DiGraph, names: Iterable[str]) -> set[str]:
    """Every step downstream of any of ``names`` (not including them)."""
    import networkx as nx

    out: set[str] = set()
    for name in names:
        out |= nx.descendants(graph, name)
    return out


def ancestors(graph: nx.DiGraph, names: Iterable[str]) -> set[str]:
    """Every step upstream of any of ``names`` (not including them)."""
    import networkx as nx

    out: set[str] = set()
    for name in names:
        out |= nx.ancestors(graph, name)
    return out


def group_units(graph: nx.DiGraph | StepGraph, order: list[str]) -> list[list[str]]:
    """Scheduling units in order: a lone step, or all steps of one ``execution_group``.

    A group runs as one unit, so no step outside it may sit between two of its members.
    """
    steps = graph.steps if isinstance(graph, StepGraph) else {n: graph.nodes[n]["step"] for n in order}
    groups: dict[str, list[str]] = {}
    for name in order:
        group = steps[name].execution_group
        if group:
            groups.setdefault(group, []).append(name)
    if not groups:
        return [[name] for name in order]
    import networkx as nx

    if isinstance(graph, StepGraph):
        graph = graph.to_networkx()
    # contract each group to one node and check the result is still acyclic
    mapping = {n: f"group:{g}" for g, members in groups.items() for n in members}
    if mapping:
        contracted = nx.relabel_nodes(graph, {n: mapping.get(n, n) for n in graph}, copy=True)
        contracted.remove_edges_from(list(nx.selfloop_edges(contracted)))
        try:
            cycle = nx.find_cycle(contracted)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            members = next(m for g, m in groups.items() if any(f"group:{g}" in e for e in cycle))
            outside = [n for e in cycle for n in e if not n.startswith("group:")]
            raise PipelineGraphError(
                f"execution group of steps {members} cannot run as one unit: step(s) "
                f"{sorted(set(outside))} outside the group sit between its members. Add them "
                "to the group or split it."
            )
    units: list[list[str]] = []
    placed: set[str] = set()
    for name in order:
        if name in placed:
            continue
        group = steps[name].execution_group
        unit = groups[group] if group else [name]
        units.append(unit)
        placed.update(unit)
    return units

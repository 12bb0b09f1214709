"""The ``%%step`` option line: declared once, parsed by the magic and by the exporter.

:data:`OPTIONS` is the single declaration. ``flowyml_jupyter`` turns it into IPython
``magic_arguments`` (for ``%%step?`` help and ``UsageError``); the exporter, which must not
import IPython, parses the same options with :func:`parse_step_line`.
"""

from __future__ import annotations

import argparse
import keyword
import shlex
from dataclasses import dataclass, field
from typing import Any

#: (flags, argparse keyword arguments), in the order help shows them
OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("name",), {"nargs": "?", "default": None,
                 "help": "Step name (default: the first output)."}),
    (("-i", "--inputs"), {"default": None,
                          "help": "Comma-separated input names (default: inferred from the code)."}),
    (("-o", "--outputs"), {"default": None,
                           "help": "Comma-separated output names (default: names the cell assigns)."}),
    (("--cache",), {"default": None, "choices": ["code_hash", "input_hash", "true", "false"],
                    "help": "Cache strategy (default: code_hash)."}),
    (("--no-cache",), {"action": "store_true", "default": False,
                       "help": "Never cache this step."}),
    (("--retries",), {"type": int, "default": 0, "help": "Re-tries after a failure (default 0)."}),
    (("--timeout",), {"type": float, "default": None, "help": "Seconds allowed per attempt."}),
    (("--tags",), {"nargs": "*", "default": None, "metavar": "K=V", "help": "Tags, as key=value."}),
    (("--resources",), {"nargs": "*", "default": None, "metavar": "K=V",
                        "help": "Resources, e.g. cpu=2 memory=4Gi gpu=1."}),
    (("--pipeline",), {"default": None, "help": "Pipeline this step belongs to."}),
    (("--group",), {"default": None, "help": "Execution group (steps that run together)."}),
    (("--condition",), {"default": None,
                        "help": "Python expression over context values and upstream outputs; "
                                "false skips the step."}),
    (("--description",), {"default": None, "help": "What the step does."}),
    (("--files",), {"action": "append", "default": None, "metavar": "PATTERN",
                    "help": "A file or glob pattern the step reads (repeatable, e.g. "
                            "--files 'data/*.csv'): always tracked, a new match re-runs it."}),
    (("--no-track-files",), {"action": "store_true", "default": False,
                             "help": "Do not record the files the step reads and writes "
                                     "(declared --files are still tracked)."}),
    (("--accept",), {"action": "store_true", "default": False,
                     "help": "After an edit that changes nothing (a debug print): show what "
                             "differs and point the step's new key at its entry stored from "
                             "the same inputs, without running the body or copying data. "
                             "Refused when an input differs."}),
]


class StepLineError(ValueError):
    """The ``%%step`` option line is malformed."""


@dataclass
class StepCellSpec:
    """The parsed ``%%step`` line (lists are ``None`` when not declared)."""

    name: str | None = None
    inputs: list[str] | None = None
    outputs: list[str] | None = None
    cache: Any = "code_hash"
    retries: int = 0
    timeout: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    pipeline: str | None = None
    group: str | None = None
    condition: str | None = None
    description: str | None = None
    files: list[str] | None = None
    track_files: bool = True
    accept: bool = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # raise instead of exiting the process
        raise StepLineError(f"%%step: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%%step", add_help=False)
    for flags, kwargs in OPTIONS:
        parser.add_argument(*flags, **kwargs)
    return parser


def parse_step_line(line: str) -> StepCellSpec:
    """Parse the text after ``%%step``; raises :class:`StepLineError` with the fix."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise StepLineError(f"%%step: cannot parse options {line!r}: {exc}") from None
    return spec_from_namespace(build_parser().parse_args(argv))


def spec_from_namespace(ns: argparse.Namespace) -> StepCellSpec:
    """Validate parsed options into a :class:`StepCellSpec`."""
    if ns.no_cache and ns.cache not in (None, "false"):
        raise StepLineError("%%step: --cache and --no-cache contradict each other; give one")
    cache: Any = {"true": "code_hash", "false": False, None: "code_hash"}.get(ns.cache, ns.cache)
    if ns.no_cache:
        cache = False
    if ns.retries < 0:
        raise StepLineError(f"%%step: --retries must be >= 0, got {ns.retries}")
    if ns.timeout is not None and not 0 < ns.timeout < float("inf"):  # also refuses nan
        raise StepLineError(f"%%step: --timeout must be a finite number > 0 of seconds, got {ns.timeout:g}")
    if ns.name is not None and (not ns.name.isidentifier() or keyword.iskeyword(ns.name)):
        raise StepLineError(
            f"%%step: step name {ns.name!r} is not a Python identifier; use letters, digits "
            "and underscores (it becomes a function name on export)"
        )
    if ns.condition is not None:
        try:
            compile(ns.condition, "<condition>", "eval")
        except SyntaxError as exc:
            raise StepLineError(f"%%step: --condition {ns.condition!r} is not an expression: {exc.msg}") from None
    return StepCellSpec(
        name=ns.name,
        inputs=_names(ns.inputs, "--inputs"),
        outputs=_names(ns.outputs, "--outputs"),
        cache=cache,
        retries=ns.retries,
        timeout=ns.timeout,
        tags=_pairs(ns.tags, "--tags"),
        resources=_pairs(ns.resources, "--resources"),
        pipeline=ns.pipeline,
        group=ns.group,
        condition=ns.condition,
        description=ns.description,
        files=_patterns(getattr(ns, "files", None)),
        track_files=not getattr(ns, "no_track_files", False),
        accept=bool(getattr(ns, "accept", False)),
    )


def _patterns(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    bad = [v for v in values if not v.strip()]
    if bad:
        raise StepLineError("%%step: --files needs a path or glob pattern, e.g. --files 'data/*.csv'")
    return list(values)


def _names(value: str | None, flag: str) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    bad = [n for n in names if not n.isidentifier()]
    if bad:
        raise StepLineError(f"%%step: {flag} needs Python identifiers separated by commas; got {bad}")
    if len(set(names)) != len(names):
        raise StepLineError(f"%%step: {flag} lists a name twice: {names}")
    return names


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StepLineError(f"%%step: {flag} takes key=value pairs; got {item!r}")
        out[key] = value
    return out

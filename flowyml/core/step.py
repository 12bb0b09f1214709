"""The FlowyML-compatible Step API: ``@step``, ``Step`` and the global ``StepRegistry``."""

from __future__ import annotations

import inspect
import os
import types
from collections.abc import Callable
from typing import Any

from flowyml import keys as _keys
from flowyml.core.resources import ResourceRequirements, normalize_resources
from flowyml.hashing import hash_value

CacheStrategy = bool | str | Callable[[dict[str, Any], dict[str, Any]], str]
_VALID_CACHE = (True, False, "code_hash", "input_hash")
DEFAULT_RETRY_DELAY = 0.1


class StepRegistry:
    """Registry of ``@step`` functions, for ``Pipeline(auto_discover=True)``.

    Registering a *different* step under a taken name raises ``ValueError`` (as FlowyML
    does); registering the same definition again -- a notebook cell run twice, a module
    reloaded -- replaces the old step (see :func:`same_definition`).
    """

    def __init__(self) -> None:
        self._steps: dict[str, Step] = {}

    def register(self, step: Step) -> None:
        """Add ``step``; replace a step of that name made by the same definition."""
        existing = self._steps.get(step.name)
        if existing is not None and not same_definition(existing, step):
            raise ValueError(
                f"Step '{step.name}' is already registered (defined at {existing.defined_at}); "
                f"{step.defined_at} uses the same name. Use a unique name=..., or set "
                "register=False on one of them."
            )
        self._steps[step.name] = step

    def unregister(self, name: str) -> None:
        """Forget the step called ``name`` (nothing happens when there is none)."""
        self._steps.pop(name, None)

    def get_all(self, pipeline: str | None = None) -> list[Step]:
        """All registered steps, or those scoped to ``pipeline`` plus the unscoped ones."""
        if pipeline is None:
            return list(self._steps.values())
        return [s for s in self._steps.values() if s.tags.get("pipeline") in (pipeline, None)]

    def get_by_name(self, name: str) -> Step | None:
        """The step called ``name``, or ``None``."""
        return self._steps.get(name)

    get = get_by_name

    def clear(self) -> None:
        """Forget every step."""
        self._steps.clear()

    def __len__(self) -> int:
        return len(self._steps)

    def __contains__(self, name: object) -> bool:
        return name in self._steps

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._steps.values()))

    def __repr__(self) -> str:
        return f"StepRegistry({len(self._steps)} steps)"


global_registry = StepRegistry()
_global_registry = global_registry  # the name FlowyML code and tests use


def get_registered_steps(pipeline: str | None = None) -> list[Step]:
    """Registered steps, optionally only those scoped to ``pipeline`` (plus unscoped ones)."""
    return global_registry.get_all(pipeline)


def clear_step_registry() -> None:
    """Forget every registered step (use between tests)."""
    global_registry.clear()


class Step:
    """A named, cached, retryable unit of a pipeline. Calling it calls the function."""

    is_map_task = False

    def __init__(
        self,
        func: Callable[..., Any],
        name: str | None = None,
        inputs: list[str] | None = None,
        outputs: list[str] | None = None,
        cache: CacheStrategy = "code_hash",
        retry: int = 0,
        timeout: float | None = None,
        resources: dict[str, Any] | ResourceRequirements | None = None,
        tags: dict[str, str] | list[str] | None = None,
        condition: Callable[..., Any] | None = None,
        execution_group: str | None = None,
        description: str | None = None,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        files: list[str] | None = None,
        track_files: bool = True,
    ) -> None:
        if not callable(func):
            raise TypeError(f"@step needs a function, got {type(func).__name__}: {func!r}")
        self.func = func
        self.name = name or getattr(func, "__name__", None) or repr(func)
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"step name must be a non-empty string, got {self.name!r}")
        self.inputs = _name_list(inputs, "inputs", self.name)
        self.outputs = _name_list(outputs, "outputs", self.name)
        if cache not in _VALID_CACHE and not callable(cache):
            raise ValueError(
                f"step '{self.name}': cache must be True, False, 'code_hash', 'input_hash' or a "
                f"callable (inputs, context) -> str; got {cache!r}"
            )
        self.cache = "code_hash" if cache is True else cache
        if not isinstance(retry, int) or isinstance(retry, bool) or retry < 0:
            raise ValueError(f"step '{self.name}': retry must be an integer >= 0, got {retry!r}")
        self.retry = retry
        self.retry_delay = float(retry_delay)
        if timeout is not None and (not isinstance(timeout, int | float) or not 0 < timeout < float("inf")):
            raise ValueError(f"step '{self.name}': timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout = timeout
        self.resources = resources
        self.resource_requirements = normalize_resources(resources, self.name)
        if isinstance(tags, list | tuple | set):
            tags = {str(t): "" for t in tags}
        self.tags: dict[str, Any] = dict(tags or {})
        self.condition = condition
        self.execution_group = execution_group
        self.description = description if description is not None else inspect.getdoc(func)
        #: declared files (glob patterns, relative to the working directory): always tracked
        self.files = _file_patterns(files, self.name)
        #: record the files the step reads and writes while it runs (flowyml.tracking.files)
        self.track_files = bool(track_files)
        self._origin: tuple[str | None, str] = (
            getattr(func, "__module__", None), getattr(func, "__qualname__", self.name))
        #: where the function's code was written (see :func:`same_definition`), or None
        self.definition_site = _code_site(func)
        self._analyse_signature()

    @property
    def origin(self) -> tuple[str | None, str]:
        """``(module, qualified name)`` of the definition this step was made from.

        Assigning it names the definition explicitly, and then it alone identifies the
        definition: ``%%step`` cells set ``(NOTEBOOK_ORIGIN, name)``, so that a re-run
        cell replaces its step whatever its code became.
        """
        return self._origin

    @origin.setter
    def origin(self, value: tuple[str | None, str]) -> None:
        self._origin = (value[0], value[1])
        self.definition_site = None

    @property
    def defined_at(self) -> str:
        """The definition, readably: ``module.qualname`` and, when known, ``file:line``."""
        where = f"{self._origin[0]}.{self._origin[1]}"
        if self.definition_site is not None:
            where += f" ({self.definition_site[0]}:{self.definition_site[1]})"
        return where

    # FlowyML spells it both ways
    @property
    def retries(self) -> int:
        return self.retry

    @property
    def pipeline(self) -> str | None:
        """The pipeline this step is scoped to (``@step(pipeline=...)``), from ``tags``."""
        return self.tags.get("pipeline")

    def _analyse_signature(self) -> None:
        target = self.func
        try:
            sig = inspect.signature(target)
        except (TypeError, ValueError):
            sig = inspect.Signature()
        params = [
            p for p in sig.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in ("self", "cls")
        ]
        accepts_kwargs = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        names = [p.name for p in params]
        binding: dict[str, str] = {}
        for inp in self.inputs:
            if inp in names:
                binding[inp] = inp
        free = [p.name for p in params if p.name not in binding.values()
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        unbound: list[str] = []
        for inp in self.inputs:
            if inp in binding:
                continue
            if free:
                binding[inp] = free.pop(0)
            elif accepts_kwargs and inp.isidentifier():
                binding[inp] = inp
            else:
                unbound.append(inp)
        self.input_binding = binding
        #: the function's parameter names, and the declared inputs none of them can receive:
        #: such a step can be made and registered (as in FlowyML); building a pipeline
        #: with it raises :class:`flowyml.graph.UnboundInputError`
        self.parameters = names
        self.unbound_inputs = unbound
        self.injectable_params = [
            (p.name, p.default is not p.empty) for p in params if p.name not in binding.values()
        ]
        self.condition_signature: list[tuple[str, bool]] = []
        if self.condition is not None:
            if not callable(self.condition):
                raise TypeError(f"step '{self.name}': condition must be callable, got {self.condition!r}")
            try:
                csig = inspect.signature(self.condition)
                self.condition_signature = [
                    (p.name, p.default is not p.empty) for p in csig.parameters.values()
                    if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                ]
            except (TypeError, ValueError):
                pass
        self._condition_params = [n for n, _ in self.condition_signature]
        self._receivable = frozenset(
            [*self.inputs, *(n for n, _ in self.injectable_params), *self._condition_params])

    @property
    def condition_params(self) -> list[str]:
        """Parameter names of ``condition`` (context values or upstream outputs)."""
        return self._condition_params

    @property
    def receivable(self) -> frozenset[str]:
        """Every name this step can receive from the context: declared inputs (when nobody
        produces them), injectable parameters and the condition's parameters."""
        return self._receivable

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def get_code_hash(self) -> str:
        """Fingerprint of the normalised code, including the user helpers it calls."""
        from flowyml.codehash import code_fingerprint  # loaded when a key is first made

        return code_fingerprint(self.func)

    def get_input_hash(self, inputs: dict[str, Any]) -> str:
        """Content digest of the given input values (by name)."""
        return hash_value({k: hash_value(v) for k, v in (inputs or {}).items()})

    def get_cache_key(
        self, inputs: dict[str, Any] | None = None, context_params: dict[str, Any] | None = None
    ) -> str | None:
        """The key this step's result is stored under for these inputs and context values.

        ``inputs`` is keyed by input (artifact) name, ``context_params`` by parameter name;
        this is the same key a pipeline run uses. ``None`` when ``cache=False``.
        """
        inputs, context_params = dict(inputs or {}), dict(context_params or {})
        if self.cache is False:
            return None
        if callable(self.cache) and not isinstance(self.cache, str):
            return _keys.custom_key(self.name, str(self.cache(inputs, context_params)))
        params = {self.input_binding.get(k, k): hash_value(v) for k, v in inputs.items()}
        params.update({k: hash_value(v) for k, v in context_params.items()})
        code = None if self.cache == "input_hash" else self.get_code_hash()
        return _keys.make_key(self.name, code, params)

    def __repr__(self) -> str:
        return f"Step(name={self.name!r}, inputs={self.inputs}, outputs={self.outputs})"


def same_definition(a: Step, b: Step) -> bool:
    """Whether ``b`` is ``a``'s definition made again, so that ``b`` may replace ``a``.

    Both must have the same :attr:`Step.origin` (module and qualified name, or the origin a
    ``%%step`` cell sets, which then decides alone). Where the code was written decides the
    rest:

    * a notebook cell or ``exec``'d source is compiled afresh each run, under a new
      pseudo-file name: another such name is the same code run again;
    * in one file, a named function is unique in its scope: a later one with its qualified
      name is that definition again (a reloaded module, even after an edit moved it);
    * lambdas share one qualified name: they are the same definition at the same line and
      column, or when the file was saved again in between (an edited module, reloaded).
      So two different lambdas under one step name clash, as in FlowyML.
    """
    if a is b:
        return True
    if a.origin != b.origin:
        return False
    if a.definition_site is None or b.definition_site is None:
        return True  # an origin set explicitly, or a callable without code: the origin is all
    file_a, line_a, column_a, saved_a = a.definition_site
    file_b, line_b, column_b, saved_b = b.definition_site
    if file_a != file_b:
        return _compiled_at_run_time(file_a) and _compiled_at_run_time(file_b)
    if not a.origin[1].rpartition(".")[2].startswith("<"):  # not <lambda>
        return True
    return (line_a, column_a) == (line_b, column_b) or saved_a != saved_b


def _code_site(func: Callable[..., Any]) -> tuple[str, int, int | None, int | None] | None:
    """Where ``func``'s code was written: file, first line, column of its first expression
    and, for a lambda in a real file, the file's modification time; ``None`` without code."""
    try:
        target = inspect.unwrap(func) if isinstance(func, types.FunctionType) else func
    except ValueError:  # a __wrapped__ cycle
        target = func
    code = getattr(target, "__code__", None)
    if not isinstance(code, types.CodeType):
        return None
    positions = code.co_positions() if hasattr(code, "co_positions") else ()
    column = next((pos[2] for pos in positions if pos[2]), None)
    saved = None
    if code.co_name.startswith("<") and not code.co_filename.startswith("<"):
        try:
            saved = os.stat(code.co_filename).st_mtime_ns
        except OSError:  # no file behind it (an ipykernel cell)
            saved = None
    return code.co_filename, code.co_firstlineno, column, saved


def _compiled_at_run_time(filename: str) -> bool:
    """Code with no file behind it: ``<ipython-input-…>``, ``<string>``, ipykernel's cells."""
    return filename.startswith("<") or not os.path.isfile(filename)


def _name_list(value: Any, what: str, step_name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    out = list(value)
    for item in out:
        if not isinstance(item, str) or not item:
            raise TypeError(f"step '{step_name}': {what} must be a list of names, got {value!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"step '{step_name}': {what} has duplicates: {out}")
    return out


def _file_patterns(files: Any, step_name: str) -> list[str]:
    """``files=[...]`` as a list of glob patterns; a clear error for anything else."""
    if files is None:
        return []
    if isinstance(files, str):
        files = [files]
    out = []
    for pattern in files:
        if isinstance(pattern, os.PathLike):
            pattern = os.fspath(pattern)
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f"step '{step_name}': files must be a list of paths or glob "
                             f"patterns (e.g. files=['data/*.csv']); got {pattern!r}")
        out.append(pattern)
    return out


def step(
    _func: Callable[..., Any] | None = None,
    *,
    inputs: list[str] | None = None,
    outputs: list[str] | None = None,
    cache: CacheStrategy = "code_hash",
    retry: int | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    resources: dict[str, Any] | ResourceRequirements | None = None,
    tags: dict[str, str] | list[str] | None = None,
    name: str | None = None,
    description: str | None = None,
    condition: Callable[..., Any] | None = None,
    execution_group: str | None = None,
    pipeline: str | None = None,
    register: bool = True,
    retry_delay: float = DEFAULT_RETRY_DELAY,
    files: list[str] | None = None,
    track_files: bool = True,
) -> Any:
    """Make a function a pipeline step: ``@step``, ``@step()`` or ``@step(...)``.

    The step is registered in the global registry (unless ``register=False``) so that
    ``Pipeline(auto_discover=True)`` finds it; ``pipeline="x"`` scopes it to pipeline "x"
    (stored as ``tags["pipeline"]``).
    """
    if retry is not None and retries is not None and retry != retries:
        raise ValueError(f"@step got retry={retry} and retries={retries}; give only one")
    n_retry = retry if retry is not None else (retries if retries is not None else 0)

    def decorator(func: Callable[..., Any]) -> Step:
        merged_tags: dict[str, Any] = (
            {str(t): "" for t in tags} if isinstance(tags, list | tuple | set) else dict(tags or {})
        )
        if pipeline is not None:
            merged_tags["pipeline"] = pipeline
        instance = Step(
            func, name=name, inputs=inputs, outputs=outputs, cache=cache, retry=n_retry,
            timeout=timeout, resources=resources, tags=merged_tags, condition=condition,
            execution_group=execution_group, description=description, retry_delay=retry_delay,
            files=files, track_files=track_files,
        )
        if register:
            global_registry.register(instance)
        return instance

    if _func is not None:
        return decorator(_func)
    return decorator

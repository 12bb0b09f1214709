"""The FlowyML-compatible Step API surface (SPEC §2)."""

from __future__ import annotations

import importlib

import pytest

import flowyml
from flowyml import Pipeline, Step, StepRegistry, clear_step_registry, get_registered_steps, step


def test_public_imports():
    for mod, names in {
        "flowyml": ["step", "Step", "Pipeline", "context", "Context", "map_task", "StepRegistry",
                    "get_registered_steps", "clear_step_registry"],
        "flowyml.core.step": ["step", "Step", "StepRegistry", "get_registered_steps", "clear_step_registry"],
        "flowyml.core.context": ["Context", "context"],
        "flowyml.core.pipeline": ["Pipeline", "PipelineResult"],
        "flowyml.core.resources": ["ResourceRequirements", "GPUConfig", "NodeAffinity", "resources"],
        "flowyml.core.map_task": ["map_task", "MapTaskStep", "MapTaskResult", "MapTaskConfig"],
    }.items():
        module = importlib.import_module(mod)
        for name in names:
            assert hasattr(module, name), f"{mod}.{name}"


def test_decorator_forms_return_steps_and_call_through():
    @step
    def bare(x):
        return x + 1

    @step()
    def empty(x):
        return x + 2

    @step(name="custom", outputs=["y"])
    def full(x):
        return x + 3

    assert all(isinstance(s, Step) for s in (bare, empty, full))
    assert (bare(1), empty(1), full(1)) == (2, 3, 4)
    assert full.name == "custom" and full.outputs == ["y"]


def test_all_parameters_are_attributes():
    cond = lambda: True  # noqa: E731

    @step(inputs=["a"], outputs=["b"], cache="input_hash", retries=3, timeout=5,
          resources={"cpu": "2", "memory": "4Gi"}, tags=["fast", "io"], description="does b",
          condition=cond, execution_group="g", pipeline="p")
    def s(a):
        return a

    assert s.inputs == ["a"] and s.outputs == ["b"] and s.cache == "input_hash"
    assert s.retry == 3 and s.retries == 3 and s.timeout == 5
    assert s.resources["cpu"] == "2" and s.resource_requirements.memory_bytes == 4 * 2**30
    assert s.tags == {"fast": "", "io": "", "pipeline": "p"}
    assert s.description == "does b" and s.condition is cond and s.execution_group == "g"


def test_cache_true_means_default_and_bad_options_are_clear():
    @step(cache=True)
    def s():
        return 1

    assert s.cache == "code_hash"
    with pytest.raises(ValueError, match="cache must be"):
        step(cache="sometimes")(lambda: 1)
    with pytest.raises(ValueError, match="retry must be"):
        step(retry=-1)(lambda: 1)
    with pytest.raises(ValueError, match="timeout"):
        step(timeout=0)(lambda: 1)
    # an input the function cannot receive is reported when the pipeline is built
    extra = step(inputs=["a", "b"], register=False)(lambda a: a)
    with pytest.raises(ValueError, match=r"step '<lambda>' declares input 'b' but .* no parameter left"):
        Pipeline("p", context={"a": 1, "b": 2}).add_step(extra).build()


def test_register_and_scoping():
    @step(pipeline="train")
    def a():
        return 1

    @step
    def b():
        return 2

    @step(register=False)
    def c():
        return 3

    names = lambda steps: sorted(s.name for s in steps)  # noqa: E731
    assert names(get_registered_steps()) == ["a", "b"]
    assert names(get_registered_steps("train")) == ["a", "b"]
    assert names(get_registered_steps("other")) == ["b"]
    clear_step_registry()
    assert get_registered_steps() == []


def test_registry_clash_raises_but_redefinition_replaces(notebook_ns):
    from tests.conftest import run_cell

    run_cell(notebook_ns, "from flowyml import step\n@step\ndef load():\n    return 1\n")
    first = notebook_ns["load"]
    run_cell(notebook_ns, "@step\ndef load():\n    return 2\n")  # the same cell run again
    assert flowyml.core.step.global_registry.get_by_name("load") is notebook_ns["load"] is not first

    with pytest.raises(ValueError, match="already registered"):
        @step(name="load")
        def something_else():
            return 3


def test_registry_is_a_class_with_register():
    def one():
        return 1

    def two():
        return 2

    reg = StepRegistry()
    s = Step(one, name="x")
    reg.register(s)
    reg.register(s)
    assert "x" in reg and len(reg) == 1
    with pytest.raises(ValueError, match="already registered"):
        reg.register(Step(two, name="x"))


def test_hash_methods():
    @step(inputs=["data"], outputs=["out"])
    def s(data, factor=2):
        return data * factor

    assert len(s.get_code_hash()) == 32
    assert s.get_input_hash({"data": 1}) != s.get_input_hash({"data": 2})
    k1 = s.get_cache_key({"data": 1}, {"factor": 2})
    assert k1.startswith("s:") and k1 == s.get_cache_key({"data": 1}, {"factor": 2})
    assert k1 != s.get_cache_key({"data": 1}, {"factor": 3})
    assert step(cache=False, register=False)(lambda: 1).get_cache_key() is None
    custom = step(cache=lambda inputs, ctx: f"v{inputs['data']}", inputs=["data"], register=False)(lambda data: data)
    assert custom.get_cache_key({"data": 7}) == "<lambda>:v7"

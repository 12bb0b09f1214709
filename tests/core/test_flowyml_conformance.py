"""Where code written for FlowyML behaved differently here for no correctness gain (issue 12),
and helpers in file-less modules, which must never give a stale cached result."""

from __future__ import annotations

import sys
import types

import pytest

from flowyml import Pipeline, Step, StepRegistry, step
from flowyml.core.resources import GPUConfig
from flowyml.graph import PipelineGraphError
from tests.conftest import run_cell


def test_two_lambdas_of_one_function_clash_in_the_registry():
    registry = StepRegistry()
    first = Step(func=lambda: 1, name="dup")
    second = Step(func=lambda: 2, name="dup")
    registry.register(first)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(second)


def test_the_same_lambda_defined_again_replaces_its_step():
    registry = StepRegistry()
    def make(n):
        return Step(func=lambda: n, name="again")

    made = [make(0), make(1)]  # one lambda, defined twice
    registry.register(made[0])
    registry.register(made[1])
    assert registry.get("again") is made[1]


def test_a_module_reloaded_replaces_its_steps(tmp_path, monkeypatch):
    (tmp_path / "reloaded_mod.py").write_text(
        "from flowyml import step\n\n@step(name='r_step')\ndef load():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import reloaded_mod

    (tmp_path / "reloaded_mod.py").write_text(
        "from flowyml import step\n\n\n# moved down\n@step(name='r_step')\ndef load():\n    return 2\n")
    importlib.reload(reloaded_mod)  # no ValueError: the same definition, edited
    assert reloaded_mod.load() == 2
    sys.modules.pop("reloaded_mod", None)


def test_a_step_whose_function_cannot_take_its_inputs_is_built_and_reported_at_run():
    s2 = Step(func=lambda: 2, name="s2", inputs=["a"], outputs=["b"])
    assert s2.name == "s2" and s2.inputs == ["a"]
    pipe = Pipeline("p", context={"a": 1}).add_step(s2)
    with pytest.raises(PipelineGraphError, match=r"step 's2' declares input 'a'.*no parameter"):
        pipe.run()


def test_adding_steps_by_hand_switches_auto_discovery_off():
    @step(outputs=["x"])
    def discovered():
        return 1

    @step(outputs=["y"], register=False)
    def load():
        return 2

    auto = Pipeline("p", auto_discover=True)
    assert [s.name for s in auto.steps] == ["discovered"]
    auto.add_step(load)
    assert [s.name for s in auto.steps] == ["load"]
    assert auto.run().outputs == {"y": 2, "load": 2}


@pytest.mark.parametrize("kwargs, start", [
    ({"count": 0}, "GPU count must be >= 1"),
    ({"count": -2}, "GPU count must be >= 1"),
    ({"memory": "invalid"}, "Invalid GPU memory format"),
])
def test_gpu_config_messages_start_with_flowymls_wording(kwargs, start):
    with pytest.raises(ValueError) as info:
        GPUConfig(**kwargs)
    assert str(info.value).startswith(start)


# -- helpers in a module without a file --------------------------------------------------------

HELPERS = {
    "function": ("def helper(x):\n    return x + {n}\n", "helper(x)"),
    "class": ("class Helper:\n    def apply(self, x):\n        return x + {n}\n", "Helper().apply(x)"),
    "transitive": ("def inner(x):\n    return x + {n}\n\ndef helper(x):\n    return inner(x)\n",
                   "helper(x)"),
}


def _plugin(source: str) -> types.ModuleType:
    module = types.ModuleType("generated_plugin")  # no __file__, filled with exec
    exec(compile(source, "<generated>", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("kind", sorted(HELPERS))
def test_editing_a_helper_of_a_file_less_module_reruns_the_step(kind, tmp_path, monkeypatch):
    template, call = HELPERS[kind]
    plugin = _plugin(template.format(n=1))
    monkeypatch.setitem(sys.modules, "generated_plugin", plugin)
    namespace = {"plugin": plugin, "__name__": "__main__"}
    run_cell(namespace, f"def use(x):\n    return plugin.{call}\n")  # a notebook cell
    use = Step(namespace["use"], name="use", outputs=["y"])
    pipe = Pipeline("p", context={"x": 10}, cache_dir=tmp_path).add_step(use)
    assert pipe.run()["y"] == 11
    assert pipe.run().step_results["use"].cached

    edited = _plugin(template.format(n=100))
    plugin.__dict__.update(edited.__dict__)  # the generator re-ran with new code
    result = pipe.run()
    assert not result.step_results["use"].cached, "a stale result from an edited helper"
    assert result["y"] == 110


def test_library_code_is_still_left_out_of_the_fingerprint():
    import json

    from flowyml.hashing import code_fingerprint

    def uses_json(v):
        return json.dumps(v)

    before = code_fingerprint(uses_json)
    json.dumps.__globals__["_flowyml_probe"] = 1  # library module state is not hashed
    try:
        assert code_fingerprint(uses_json) == before
    finally:
        del json.dumps.__globals__["_flowyml_probe"]

"""Context and resource requirements (SPEC §2, §4)."""

from __future__ import annotations

import pytest

from flowyml import Context, GPUConfig, NodeAffinity, ResourceRequirements, context, resources, step


def test_context_access_and_inheritance():
    ctx = context(lr=0.1, epochs=3)
    assert ctx.lr == 0.1 and ctx["epochs"] == 3 and ctx.get("missing", 7) == 7
    assert ctx.keys() == {"lr", "epochs"} and dict(ctx.items()) == ctx.to_dict()
    ctx.update({"batch": 32})
    child = ctx.inherit(lr=0.5)
    assert child.lr == 0.5 and child.batch == 32 and "epochs" in child
    with pytest.raises(AttributeError, match="nope"):
        _ = ctx.nope
    with pytest.raises(KeyError):
        _ = ctx["nope"]


def test_inject_and_validate():
    def train(lr, epochs, data, verbose=False):
        return lr

    ctx = Context(lr=0.1, unrelated=1)
    assert ctx.inject_params(train) == {"lr": 0.1}
    assert ctx.validate_for_step(train, exclude=["data"]) == ["epochs"]
    assert ctx.validate_for_step(step(register=False)(train), exclude=["data"]) == ["epochs"]


@pytest.mark.parametrize("cpu", ["2", "0.5", "500m", "16"])
def test_valid_cpu(cpu):
    assert resources(cpu=cpu).cpu == cpu


@pytest.mark.parametrize("memory,expected", [("4Gi", 4 * 2**30), ("512Mi", 512 * 2**20), ("1G", 10**9)])
def test_valid_memory(memory, expected):
    assert ResourceRequirements(memory=memory).memory_bytes == expected


@pytest.mark.parametrize("kwargs,match", [
    ({"cpu": "two"}, "Invalid CPU"),
    ({"cpu": "-1"}, "Invalid CPU"),
    ({"memory": "4 gigs"}, "Invalid memory"),
    ({"storage": "lots"}, "storage"),
])
def test_invalid_resources_are_clear(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResourceRequirements(**kwargs)


def test_gpu_and_affinity_and_dict_access():
    req = ResourceRequirements(cpu="4", gpu=GPUConfig(gpu_type="a100", count=2), node_affinity=NodeAffinity())
    assert req["gpu"] == 2 and req.get_gpu_count() == 2 and req.has_gpu()
    assert req.to_dict()["gpu"]["type"] == "a100"
    with pytest.raises(ValueError):
        GPUConfig(count=0)


def test_step_resources_dict_validated_and_subscriptable():
    @step(resources={"cpu": "2", "memory": "1Gi", "gpu": 1}, register=False)
    def s():
        return 1

    assert s.resources["cpu"] == "2" and s.resource_requirements.get_gpu_count() == 1
    with pytest.raises(ValueError, match=r"step 'bad'.*Invalid memory"):
        step(name="bad", resources={"memory": "x"}, register=False)(lambda: 1)
    with pytest.raises(ValueError, match="unknown resource"):
        step(name="bad2", resources={"cpus": "1"}, register=False)(lambda: 1)

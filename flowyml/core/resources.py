"""Resource requirements of a step, validated the Kubernetes way ("2", "500m", "4Gi")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# matched with re.match (its compile cache): compiled at first use, not at import
_CPU_RE = r"^\d+(\.\d+)?m?$"
_MEM_RE = r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|KB|MB|GB|TB|PB|K|M|G|T|P|B|k)?$"
_MEM_UNITS = {
    None: 1, "B": 1, "k": 1000, "K": 1000, "KB": 1000, "M": 1000**2, "MB": 1000**2,
    "G": 1000**3, "GB": 1000**3, "T": 1000**4, "TB": 1000**4, "P": 1000**5, "PB": 1000**5,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5,
}


def parse_cpu(value: str | int | float) -> float:
    """CPU cores from "2", "0.5", "500m" (millicores) or a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"Invalid CPU value {value!r}: must be > 0")
        return float(value)
    text = str(value).strip()
    if not re.match(_CPU_RE, text):
        raise ValueError(
            f"Invalid CPU format: {value!r}. Use cores like '2' or '0.5', or millicores like '500m'."
        )
    cores = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    if cores <= 0:
        raise ValueError(f"Invalid CPU value {value!r}: must be > 0")
    return cores


def parse_memory(value: str | int) -> int:
    """Bytes from "4Gi", "512Mi", "1G", "100" or an integer number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = re.match(_MEM_RE, str(value).strip())
    if not match:
        raise ValueError(
            f"Invalid memory format: {value!r}. Use a number with a unit, e.g. '512Mi', '4Gi', '1G'."
        )
    return int(float(match.group(1)) * _MEM_UNITS[match.group(2)])


@dataclass
class GPUConfig:
    """GPUs a step needs: type, count and optional memory per device."""

    gpu_type: str = "generic"
    count: int = 1
    memory: str | None = None

    def __post_init__(self) -> None:
        # FlowyML's wording starts each message, so code matching on it keeps working
        if not isinstance(self.count, int) or self.count < 1:
            raise ValueError(
                f"GPU count must be >= 1, got {self.count!r}: give a whole number of devices "
                "(count=1, 2, ...), or no gpu= at all for a step that needs none."
            )
        if self.memory is not None:
            try:
                parse_memory(self.memory)
            except ValueError:
                raise ValueError(
                    f"Invalid GPU memory format: {self.memory!r}. Use memory per device as a "
                    "number with a unit, e.g. '16Gi', '80Gi' or '32768Mi'."
                ) from None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.gpu_type, "count": self.count, "memory": self.memory}


@dataclass
class NodeAffinity:
    """Node selection rules (kept for FlowyML compatibility; used by cluster back-ends)."""

    required: dict[str, str] = field(default_factory=dict)
    preferred: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"required": self.required, "preferred": self.preferred, "tolerations": self.tolerations}


@dataclass
class ResourceRequirements:
    """What a step needs to run: cpu, memory, storage, GPUs, node affinity."""

    cpu: str | None = None
    memory: str | None = None
    storage: str | None = None
    gpu: GPUConfig | None = None
    node_affinity: NodeAffinity | None = None

    def __post_init__(self) -> None:
        if self.cpu is not None:
            parse_cpu(self.cpu)
        if self.memory is not None:
            parse_memory(self.memory)
        if self.storage is not None:
            try:
                parse_memory(self.storage)
            except ValueError as exc:
                raise ValueError(str(exc).replace("memory", "storage", 1)) from None
        if isinstance(self.gpu, int) and not isinstance(self.gpu, bool):
            self.gpu = GPUConfig(count=self.gpu)
        elif isinstance(self.gpu, dict):
            self.gpu = GPUConfig(
                gpu_type=self.gpu.get("gpu_type") or self.gpu.get("type") or "generic",
                count=int(self.gpu.get("count", 1)),
                memory=self.gpu.get("memory"),
            )

    @property
    def cpu_cores(self) -> float:
        return parse_cpu(self.cpu) if self.cpu is not None else 0.0

    @property
    def memory_bytes(self) -> int:
        return parse_memory(self.memory) if self.memory is not None else 0

    def has_gpu(self) -> bool:
        return self.gpu is not None

    def get_gpu_count(self) -> int:
        return self.gpu.count if self.gpu else 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("cpu", "memory", "storage"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.gpu:
            out["gpu"] = self.gpu.to_dict()
        if self.node_affinity:
            out["node_affinity"] = self.node_affinity.to_dict()
        return out

    def __getitem__(self, key: str) -> Any:
        if key not in ("cpu", "memory", "storage", "gpu", "node_affinity"):
            raise KeyError(key)
        value = getattr(self, key)
        return value.count if key == "gpu" and isinstance(value, GPUConfig) else value


def resources(
    cpu: str | None = None,
    memory: str | None = None,
    storage: str | None = None,
    gpu: GPUConfig | int | None = None,
    node_affinity: NodeAffinity | None = None,
) -> ResourceRequirements:
    """Build validated :class:`ResourceRequirements`."""
    return ResourceRequirements(cpu=cpu, memory=memory, storage=storage, gpu=gpu, node_affinity=node_affinity)


def normalize_resources(value: Any, step_name: str) -> ResourceRequirements | None:
    """Validate a step's ``resources`` (dict or object) into :class:`ResourceRequirements`."""
    if value is None or isinstance(value, ResourceRequirements):
        return value
    if not isinstance(value, dict):
        raise TypeError(
            f"step '{step_name}': resources must be a dict or ResourceRequirements, got "
            f"{type(value).__name__}"
        )
    known = {"cpu", "memory", "storage", "gpu", "node_affinity"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(
            f"step '{step_name}': unknown resource(s) {unknown}; valid keys are {sorted(known)}"
        )
    try:
        return ResourceRequirements(**value)
    except ValueError as exc:
        raise ValueError(f"step '{step_name}': {exc}") from None

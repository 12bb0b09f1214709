"""Per-step overhead: a chain of trivial steps, sequential executor.

Side by side on the same functions: calling them directly, ``joblib.Memory.cache``
(cold and cached), and a flowyml pipeline without cache, cold with cache, and fully cached.
Issue targets (per step): no cache <= 0.1 ms, cold <= 2 ms, fully cached <= 0.5 ms.

Then the same three cases written with FlowyML 2.2.1's own API (``_flowyml_chain.py``, in
FlowyML's venv; see ``_flowyml_ref.py``), on a shorter chain: FlowyML takes 12-14 ms a
step on a 1000-step chain here (13 s a run), more per step than on 200 steps.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from benchmarks import _flowyml_ref as ref
from benchmarks._common import best_time, chain_module, row, scratch_dir, skipped

NAME = "overhead"
#: FlowyML's chain: steps and repeats (full, quick)
REF_STEPS = {False: 200, True: 20}
REF_REPEAT = {False: 3, True: 1}


def _direct(funcs: list[Any]) -> None:
    value = funcs[0]()
    for f in funcs[1:]:
        value = f(value)


def run(quick: bool = False) -> list[dict[str, Any]]:
    import joblib

    import flowyml

    n = 200 if quick else 1000
    repeat = 2 if quick else 5
    work = scratch_dir("overhead")
    try:
        mod = chain_module(work, n)
        direct = best_time(lambda: _direct(mod.FUNCS), repeat=repeat * 3) / n

        # joblib.Memory.cache on the same plain functions (a fresh module per cold repeat)
        def joblib_cold() -> tuple[float, list[Any]]:
            best = float("inf")
            for r in range(repeat):
                m = chain_module(work, n)
                mem = joblib.Memory(work / f"joblib-{r}", verbose=0)
                cached = [mem.cache(f) for f in m.FUNCS]
                best = min(best, best_time(lambda c=cached: _direct(c), repeat=1))
            return best, cached
        jl_cold, jl_funcs = joblib_cold()
        jl_warm = best_time(lambda: _direct(jl_funcs), repeat=repeat)

        nocache = flowyml.Pipeline("bench-nocache", enable_cache=False).add_steps(mod.STEPS)
        nocache.run()  # warm-up: imports, fingerprint memo
        t_nocache = best_time(lambda: _check(nocache.run(), n, 0), repeat=repeat)

        cold_best = float("inf")
        for r in range(repeat):
            m = chain_module(work, n)  # fresh functions: fingerprints computed from scratch
            p = flowyml.Pipeline("bench-cold", cache_dir=work / f"flowyml-{r}").add_steps(m.STEPS)
            cold_best = min(cold_best, best_time(lambda p=p: _check(p.run(), n, 0), repeat=1))
        t_warm = best_time(lambda: _check(p.run(), n, n), repeat=repeat)
        t_signed, t_paired, t_signed_first, t_signed_fresh = _signed_chain(
            work, n, repeat, lambda: _check(p.run(), n, n))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ms = 1e3
    label = f"{n}-step chain"
    per_step = {"no cache": t_nocache / n, "cold, cache on": cold_best / n,
                "fully cached": t_warm / n}
    return [
        row(NAME, f"{label}: direct calls", direct * ms, "ms/step"),
        row(NAME, f"{label}: no cache", t_nocache / n * ms, "ms/step",
            baseline="direct", baseline_value=direct * ms, ratio_label="x direct calls",
            target="<= 0.1 ms/step", met=t_nocache / n * ms <= 0.1),
        row(NAME, f"{label}: cold, cache on", cold_best / n * ms, "ms/step",
            baseline="joblib.Memory cold", baseline_value=jl_cold / n * ms,
            ratio_label="x joblib's time", target="<= 2 ms/step", met=cold_best / n * ms <= 2),
        row(NAME, f"{label}: fully cached", t_warm / n * ms, "ms/step",
            baseline="joblib.Memory cached", baseline_value=jl_warm / n * ms,
            ratio_label="x joblib's time", target="<= 0.5 ms/step", met=t_warm / n * ms <= 0.5),
        row(NAME, f"{label}: fully cached, signed + verified (Ed25519)", t_signed / n * ms,
            "ms/step", baseline="fully cached, unsigned (runs alternated)",
            baseline_value=t_paired / n * ms, ratio_label="x unsigned",
            target="verifying <= 0.2 ms/hit", met=(t_signed - t_paired) / n * ms <= 0.2,
            note=f"verifying costs {(t_signed - t_paired) / n * 1e6:.1f} us/hit; a new process on "
                 f"a machine that verified them before: {t_signed_fresh / n * ms:.3f} ms/step; "
                 f"the first hits ever on a machine (a full Ed25519 check each): "
                 f"{t_signed_first / n * ms:.3f} ms/step"),
        *_versus_flowyml(quick, label, per_step),
    ]


def _signed_chain(work: Any, n: int, repeat: int,
                  unsigned: Any) -> tuple[float, float, float, float]:
    """The fully cached chain read by a "laptop" that holds only the publisher's
    fingerprint: every hit checks the signer, the Ed25519 signature and the signed SHA-256
    of its data. Returns seconds: (the best run; the best run of ``unsigned`` -- the same
    chain unsigned -- alternated with it, so both see the same machine load; the first run
    on a machine that never verified these entries -- a full Ed25519 check per hit; a
    fresh process on a machine that did -- its memo file)."""
    import os

    import flowyml
    from flowyml.store import signing_keys

    saved = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(work / "config")  # the memo file goes there
    try:
        ci_key, _, ci_fp = signing_keys.keygen(work / "ci-key")
        laptop_key, _, _ = signing_keys.keygen(work / "laptop-key")
        m = chain_module(work, n)
        location = work / "flowyml-signed"
        flowyml.Pipeline("bench-signed", cache_dir=location, signing_key=str(ci_key)).add_steps(
            m.STEPS).run()
        laptop = flowyml.Pipeline("bench-signed", cache_dir=location, signing_key=str(laptop_key),
                                  trusted_signers=[ci_fp], verify="on").add_steps(m.STEPS)
        laptop.cache.check_safety()
        memo = laptop.cache.secret.memo

        def forget(on_disk: bool) -> None:
            signing_keys._VERIFIED.clear()  # what this process verified
            memo._known = None  # read the machine's memo file again, as a new process does
            if on_disk:
                memo.path.unlink(missing_ok=True)

        first = best_time(lambda: _check(laptop.run(), n, n), repeat=1, setup=lambda: forget(True))
        fresh = best_time(lambda: _check(laptop.run(), n, n), repeat=repeat,
                          setup=lambda: forget(False))
        signed = plain = float("inf")
        for _ in range(repeat):
            signed = min(signed, best_time(lambda: _check(laptop.run(), n, n), repeat=1))
            plain = min(plain, best_time(unsigned, repeat=1))
        return signed, plain, first, fresh
    finally:
        if saved is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = saved


def _versus_flowyml(quick: bool, label: str, ours: dict[str, float]) -> list[dict[str, Any]]:
    """FlowyML 2.2.1 on its own chain (in its venv): one row per case, ours beside theirs."""
    found = ref.reference(quick)
    if found.python is None:
        return [skipped(NAME, f"{ref.LABEL} column: {found.reason}")]
    n, repeat = REF_STEPS[quick], REF_REPEAT[quick]
    work = scratch_dir("overhead-ref")
    try:
        theirs = ref.run_json(found.python, "_flowyml_chain.py", [str(n), str(repeat)], work,
                              timeout=120 if quick else 900)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return [skipped(NAME, f"{ref.LABEL} column: {ref.skip_reason(exc)}")]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    keys = {"no cache": "nocache", "cold, cache on": "cold", "fully cached": "warm"}
    return [
        row(NAME, f"{label}: {case}, vs {ref.LABEL}", ours[case] * 1e3, "ms/step",
            baseline=f"{ref.LABEL} ({n} steps)", baseline_value=theirs[keys[case]] / n * 1e3,
            ratio_label=f"x {ref.LABEL}'s time", target="report",
            note=f"FlowyML: {n}-step chain, best of {repeat}")
        for case in ours
    ]


def _check(result: Any, n: int, cached: int) -> None:
    if not result.success or len(result.step_results) != n or len(result.cached_steps) != cached:
        raise RuntimeError(f"benchmark pipeline misbehaved: {result!r}")

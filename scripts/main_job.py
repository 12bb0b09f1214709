"""The main job: run notebooks/quickstart.ipynb headless, export it, run the export.

1. execute the notebook with nbclient in a real kernel (cwd = notebooks/, cache under out/)
   and save the executed notebook to out/quickstart.ipynb;
2. export it to out/quickstart_pipeline.py and run that module against the same cache
   (every step should be a cache hit);
3. render the DAG to out/dag.svg (out/dag.html when Graphviz's `dot` is missing);
4. print where everything went.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
OUT = ROOT / "out"


def execute_notebook(cache_dir: Path) -> tuple[Path, float]:
    import nbformat
    from nbclient import NotebookClient

    from flowyml_jupyter.kernels import LocalKernelManager

    os.environ["FLOWYML_CACHE_DIR"] = str(cache_dir)  # the kernel inherits it
    nb = nbformat.read(NOTEBOOK, as_version=4)
    started = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", kernel_manager_class=LocalKernelManager,
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    elapsed = time.perf_counter() - started
    target = OUT / "quickstart.ipynb"
    nbformat.write(nb, target)
    write_html(nb)
    return target, elapsed


def write_html(nb) -> Path:
    """A static HTML page of the executed notebook (statuses and DAG as saved HTML/SVG).

    Widget state is dropped for this copy so nbconvert shows each widget's static
    ``text/html`` instead of a live view that would need JavaScript from the network.
    """
    import copy

    from nbconvert import HTMLExporter

    static = copy.deepcopy(nb)
    static.metadata.pop("widgets", None)
    body, _ = HTMLExporter().from_notebook_node(static)
    target = OUT / "quickstart.html"
    target.write_text(body)
    return target


def export_and_run(executed: Path, cache_dir: Path) -> tuple[Path | None, str]:
    try:
        from flowyml.export import export_notebook
    except ImportError as exc:
        return None, f"export not available ({exc})"
    module = OUT / "quickstart_pipeline.py"
    export_notebook(executed, module)
    env = {**os.environ, "FLOWYML_CACHE_DIR": str(cache_dir)}
    proc = subprocess.run([sys.executable, str(module)], cwd=str(OUT), env=env,
                          capture_output=True, text=True, timeout=600)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise SystemExit(f"running {module} failed (exit {proc.returncode}):\n{output}")
    return module, output


def render_dag(module: Path | None) -> Path:
    """Draw the exported pipeline's DAG (SVG with dot, else the plain HTML fallback)."""
    from flowyml import render

    if module is None:
        raise SystemExit("no exported module: cannot draw the DAG")
    import runpy

    namespace = runpy.run_path(str(module), run_name="quickstart_pipeline")
    pipeline = namespace["pipeline"]
    result = pipeline.run()  # all cache hits: gives each node its state
    graph = pipeline.dag.graph
    states = {n: r.state for n, r in result.step_results.items()}
    svg = render.dag_to_svg(graph, states)
    if svg is not None:
        target = OUT / "dag.svg"
        target.write_text(svg)
    else:
        target = OUT / "dag.html"
        target.write_text(render.dag_to_html(graph, states))
    return target


def main() -> None:
    OUT.mkdir(exist_ok=True)
    cache_dir = OUT / "cache"
    executed, elapsed = execute_notebook(cache_dir)
    print(f"executed notebook : {executed}  ({elapsed:.1f} s in a real kernel)")
    print(f"static HTML       : {OUT / 'quickstart.html'}")
    module, output = export_and_run(executed, cache_dir)
    if module is not None:
        print(f"exported module   : {module}")
        print("running it        : python " + str(module.relative_to(ROOT)))
        for line in output.splitlines():
            print("    " + line)
    else:
        print(f"exported module   : skipped: {output}")
    dag = render_dag(module)
    print(f"pipeline DAG      : {dag}" + ("" if dag.suffix == ".svg" else
                                          f"  ({_hint()})"))
    print(f"cache             : {cache_dir}")


def _hint() -> str:
    from flowyml import render

    return render.INSTALL_HINT


if __name__ == "__main__":
    main()

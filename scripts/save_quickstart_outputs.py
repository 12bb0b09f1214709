"""Re-execute notebooks/quickstart.ipynb and save it WITH its outputs, for viewers.

The saved outputs keep each widget's static text/html and text/plain (the status lines and
the DAG as SVG) but not the live widget views, which need a kernel: so GitHub, nbviewer and
JupyterLab before a run all show the last DAG and statuses instead of "model not found".
Run from the repo root with the venv's python; uses a throwaway cache.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from flowyml_jupyter.kernels import LocalKernelManager

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"


def main() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FLOWYML_CACHE_DIR"] = cache
        NotebookClient(nb, timeout=600, kernel_name="python3", store_widget_state=False,
                       kernel_manager_class=LocalKernelManager,
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
    nbformat.write(nb, NOTEBOOK)
    print(f"saved {NOTEBOOK} with static outputs")


if __name__ == "__main__":
    main()

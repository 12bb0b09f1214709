"""scikit-learn's estimator diagrams number their HTML elements from two counters of its
module (``sk-container-id-N``, ``sk-estimator-id-N``); the page's styles and the labels that
fold a step open find their diagram by those ids. A hit replays its diagram without taking
ids, so after a restart the diagram of an edited cell was numbered from 1 again, the ids of
the first diagram on the page (scikit-learn's "Displaying Pipelines" example). Real kernels
through nbclient, compared with plain Python of the edited notebook (SPEC §9).
"""

from __future__ import annotations

import re

import pytest

from .kernel_runs import run_cells, status

pytestmark = pytest.mark.slow

_IDS = re.compile(r"sk-(?:container|estimator)-id-\d+")


def _ids(runs):
    return [sorted(set(_IDS.findall(o.get("data", {}).get("text/html", ""))))
            for outputs in runs for o in outputs if "text/html" in o.get("data", {})
            and _IDS.search(o["data"]["text/html"])]


def test_a_diagram_shown_after_cached_ones_has_the_ids_plain_python_gives_it(tmp_path):
    pytest.importorskip("sklearn")
    made = ("%%step\nfrom sklearn.linear_model import LogisticRegression\n"
            "from sklearn.pipeline import make_pipeline\nfrom sklearn.preprocessing import StandardScaler\n"
            "pipe = make_pipeline(StandardScaler(), LogisticRegression())")
    # the diagram module is loaded when the second cell's hit is applied (by the first's
    # imports): what the hit's diagram took is applied once, not once per pass
    cells = [made, "%%step\npipe", "%%step\npipe2 = make_pipeline(StandardScaler(), LogisticRegression(C=2.0))\npipe2"]
    edited = [*cells[:2], cells[2].replace("C=2.0", "C=3.0"), "%%step\npipe3 = make_pipeline(StandardScaler())\npipe3"]
    run_cells(tmp_path, cells)
    plain = _ids(run_cells(tmp_path, edited, flowyml=False))
    runs = run_cells(tmp_path, edited)
    assert plain[1] == ["sk-container-id-2", "sk-estimator-id-4", "sk-estimator-id-5",
                        "sk-estimator-id-6"], plain
    assert _ids(runs) == plain
    assert ": cached" in status(runs[1]) and ": cached" not in status(runs[2]), [status(r) for r in runs]

"""notebooks/quickstart.ipynb in a real JupyterLab and a real Chromium, as a user runs it.

Run all → every step's status widget and the DAG say "done"; run all again → "cached";
type an edit into one step cell and run it → the DAG marks its descendants stale (and the
edited step re-ran); ``%flowyml status`` marks their status lines stale; ``%flowyml run``
re-runs exactly those descendants. Screenshots of the DAG and of a step cell are kept in the
test's ``artifacts`` folder (FLOWYML_E2E_SCREENSHOT_DIR=docs/screenshots refreshes the README pictures).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.expected import EDIT_LINE, EDITED_STEP, NOTEBOOKS, QUICKSTART, descendants, notebook_steps

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: a step added at the end that reads the last step's output and takes a few seconds, so the
#: test can watch its status line and its DAG node say "running" while it runs
SLOW_STEP = "slow_report"
SLOW_CELL = f"%%step {SLOW_STEP}\nimport time\ntime.sleep(4)\ndouble_accuracy = accuracy * 2"


def status_by_step(lab) -> dict[str, tuple[int, str]]:
    """``{step: (cell index, state)}`` from the status line under each step cell."""
    found: dict[str, tuple[int, str]] = {}
    for index, lines in enumerate(lab.step_statuses()):
        for line in lines:
            found[line["step"]] = (index, line["state"])
    return found


def unreadable(lab) -> list[str]:
    """Widget text below WCAG AA contrast (4.5:1): status lines, node labels, the legend and
    the edge labels (which follow the theme's secondary text colour)."""
    strict = (".flowyml-step-status, .flowyml-dag-widget .node, .flowyml-dag-legend, "
              ".flowyml-dag-widget .edge")
    assert lab.page.locator(".flowyml-dag-widget .node text").count(), "no DAG node labels to check"
    return lab.low_contrast_text(strict, 4.5)


def assert_clean_page(lab) -> None:
    lab.wait_widgets_settled()
    assert lab.widget_errors() == [], lab.widget_errors()


@pytest.mark.skipif(not QUICKSTART.exists(), reason=f"{QUICKSTART} does not exist yet")
def test_quickstart_runs_caches_and_reruns_only_stale_steps(start_lab, open_page, artifacts):
    children = notebook_steps(QUICKSTART)
    steps = set(children)
    assert EDITED_STEP in steps, f"the test edits step {EDITED_STEP!r}; the notebook has {sorted(steps)}"
    below = descendants(children, EDITED_STEP)
    assert below, f"step {EDITED_STEP!r} has no descendants; pick a step others read"

    server = start_lab(NOTEBOOKS)
    lab = open_page(server)
    lab.open(QUICKSTART.name)

    # 1. first run: every step computes
    lab.run_all()
    assert_clean_page(lab)
    first = status_by_step(lab)
    assert set(first) == steps, f"status widgets for {sorted(first)}, steps {sorted(steps)}"
    assert {state for _, state in first.values()} == {"done"}, first
    assert lab.dag_states() == dict.fromkeys(steps, "done")
    step_cell = lab.cell(first[EDITED_STEP][0])
    lab.screenshot("step-cell-done", step_cell)
    lab.dag_screenshot("dag-done")

    # 2. run all again: every step is a cache hit
    lab.run_all()
    assert_clean_page(lab)
    second = status_by_step(lab)
    assert {step: state for step, (_, state) in second.items()} == dict.fromkeys(steps, "cached")
    assert lab.dag_states() == dict.fromkeys(steps, "cached")
    step_picture = lab.screenshot("step-cell-cached", lab.cell(second[EDITED_STEP][0]))

    # 2b. a slow step shows "running" live, while its cell still executes
    slow = lab.add_code_cell_at_end(SLOW_CELL)
    lab.run_cell(slow, wait=False)
    lab.wait_for_live_state(SLOW_STEP, "running", where="status")
    assert lab.kernel_status() == "busy"
    lab.screenshot("step-cell-running", lab.cell(slow))
    lab.wait_idle()
    assert status_by_step(lab)[SLOW_STEP][1] == "done"
    steps, below = steps | {SLOW_STEP}, below | {SLOW_STEP}
    assert lab.dag_states() == {**dict.fromkeys(steps, "cached"), SLOW_STEP: "done"}

    # 3. edit one step cell in the editor and run it: it re-runs, its descendants go stale
    index = second[EDITED_STEP][0]
    lab.type_into(index, EDIT_LINE, append=True)
    assert lab.cell_sources()[index].rstrip().endswith(EDIT_LINE)
    lab.run_cell(index)
    assert_clean_page(lab)
    assert status_by_step(lab)[EDITED_STEP][1] == "done"
    expected = {s: ("stale" if s in below else "cached") for s in steps}
    expected[EDITED_STEP] = "done"
    assert lab.dag_states() == expected
    dag_picture = lab.dag_screenshot("dag-stale")

    # 4. %flowyml status: the descendants' own status lines turn stale, with a reason
    status_cell = lab.add_code_cell_at_end("%flowyml status")
    lab.run_cell(status_cell)
    assert_clean_page(lab)
    now = status_by_step(lab)
    assert {s for s, (_, state) in now.items() if state == "stale"} == below
    table = lab.output_text(status_cell)
    for step in below:
        assert re.search(rf"{re.escape(step)}\s+stale", table), table

    # 5. %flowyml run: exactly the stale steps run again
    run_cell = lab.add_code_cell_at_end("%flowyml run")
    lab.run_cell(run_cell, wait=False)
    lab.wait_for_live_state(SLOW_STEP, "running", where="dag")  # the DAG follows the run live
    lab.dag_screenshot("dag-running")
    lab.wait_idle()
    assert_clean_page(lab)
    report = lab.output_text(run_cell)
    ran = re.search(r"ran ([^;\n]+)", report)
    assert ran, report
    assert {name.strip() for name in ran.group(1).split(",")} == below, report
    after = {s: ("done" if s in below or s == EDITED_STEP else "cached") for s in steps}
    assert lab.dag_states() == after
    assert {s: state for s, (_, state) in status_by_step(lab).items() if s in below} == dict.fromkeys(below, "done")
    lab.dag_screenshot("dag-after-run")
    assert unreadable(lab) == []
    lab.screenshot("notebook", None)

    # 5b. %flowyml export finds the running notebook through the server (no --notebook)
    export_cell = lab.add_code_cell_at_end("%flowyml export exported_pipeline.py")
    lab.run_cell(export_cell)
    exported = server.root_dir / "exported_pipeline.py"
    assert exported.is_file(), lab.output_text(export_cell)
    assert "@step(" in exported.read_text() and "pipeline = Pipeline(" in exported.read_text()

    # 6. the same notebook in the dark theme: still rendered, text readable
    lab.set_theme("JupyterLab Dark")
    assert_clean_page(lab)
    lab.dag_screenshot("dag-dark")
    lab.screenshot("step-cell-dark", lab.cell(now[EDITED_STEP][0]))
    assert unreadable(lab) == [], "text hard to read in the dark theme"

    assert lab.console_errors_matching("widget") == []
    assert server.stop() == []
    # Opt-in (never by default: tests do not write into the repository), e.g.
    # FLOWYML_E2E_SCREENSHOT_DIR=docs/screenshots to refresh the README picture.
    keep = os.environ.get("FLOWYML_E2E_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dag_picture, Path(keep) / "dag.png")
        shutil.copyfile(step_picture, Path(keep) / "step.png")

"""A statsmodels model fitted from a formula, cached by a step, must load after a restart
(SPEC §9), as the notebook's own ``pickle.loads`` would load it.

Unpickling such a model rebuilds its design from the formula (``DataFrame.__setstate__``
in ``statsmodels.base.data`` through patsy), looking the formula's names up in the frames
that called ``pickle.loads``. A formula naming a function the notebook defines
(``y ~ double_it(x)``, statsmodels' own ``glm_formula`` example) then failed to load in
flowyml's loader, whose frames are its own modules: a "could not be loaded" warning and a
re-run after every restart. Real kernels through nbclient: plain, ``%%step`` run 1,
``%%step`` in a fresh kernel.
"""

from __future__ import annotations

import pytest

from .kernel_runs import printed, three_runs

pytestmark = pytest.mark.slow


def test_a_formula_model_naming_a_notebook_function_is_a_hit_after_a_restart(tmp_path):
    pytest.importorskip("statsmodels")
    cells = [
        "%%step\nimport numpy as np\nimport pandas as pd\nimport statsmodels.formula.api as smf\n"
        "df = pd.DataFrame({'x': np.arange(1.0, 21.0)})\n"
        "df['y'] = 3.0 + 0.5 * df.x + np.log(df.x) + np.sin(df.x) / 10",
        "%%step\ndef double_it(v):\n    return 2 * v\n\n"
        "res = smf.ols('y ~ double_it(x) + np.log(x)', data=df).fit()\n"
        "print(res.params.round(6).to_dict())",
        # the design the model rebuilt on loading computes new rows
        "print(res.predict(pd.DataFrame({'x': [30.0, 40.0]})).round(6).tolist())",
    ]
    plain, first, again, states = three_runs(
        tmp_path, cells, lambda o: printed(o, labelled=True, results=True), allow_errors=False)
    assert "double_it(x)" in plain[1] and "stderr" not in plain[1], plain
    assert "cached" in states[0] and "cached" in states[1], states
    assert first == plain
    assert again == plain  # no "could not be loaded" warning, the same predictions

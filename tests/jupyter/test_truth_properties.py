"""Values holding ``property`` objects, which ``pickle`` refuses: filterpy's ``Saver(kf)``
keeps the filter class's properties (``inspect.getmembers(type(kf), ...)``) to record them
at each step; Kalman and Bayesian Filters in Python makes one in a dozen cells
(``s = Saver(kf)`` ... ``s.to_array()``), which ran again after every restart ("cannot be
pickled"). A property is stored by its getter's module and qualified name and found again
there. Real kernels through nbclient, compared with plain Python (SPEC §9).
"""

from __future__ import annotations

import pytest

from .kernel_runs import everything, three_runs

pytestmark = pytest.mark.slow


def test_cells_keeping_properties_of_a_library_and_a_notebook_class_are_hits(tmp_path):
    pytest.importorskip("filterpy")
    cells = [
        "%%step\nimport inspect\nimport numpy as np\nfrom filterpy.kalman import KalmanFilter\n"
        "from filterpy.common import Saver",
        "%%step\nkf = KalmanFilter(dim_x=2, dim_z=1)\nkf.x = np.array([0., 1.])\n"
        "kf.F = np.array([[1., 1.], [0., 1.]])\nkf.H = np.array([[1., 0.]])\ns = Saver(kf)\n"
        "for z in [1.2, 1.9, 3.1]:\n    kf.predict()\n    kf.update(z)\n    s.save()\ns.to_array()",
        "%%step\nclass Track:\n    def __init__(self, xs):\n        self.xs = xs\n"
        "    @property\n    def last(self):\n        return self.xs[-1]\n"
        "track = Track(list(s.x[:, 0].round(3)))\n"
        "props = dict(inspect.getmembers(Track, lambda o: isinstance(o, property)))",
        "print(s.x.round(3).tolist(), s._kf is kf, props['last'].fget(track), props['last'] is Track.last)",
    ]
    plain, first, again, states = three_runs(tmp_path, cells, everything)
    assert plain[3] == "stdout: [[1.15, 1.05], [1.96, 0.93], [3.062, 1.019]] True 3.062 True\n", plain
    assert first == plain and again == plain
    assert ": cached" in states[1] and ": cached" in states[2], states

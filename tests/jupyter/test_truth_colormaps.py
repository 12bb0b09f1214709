"""A colormap a cell registers with matplotlib (``mpl.colormaps.register(cmap=my_cmap)``, then
``imshow(data, cmap='my_cmap')`` in later cells, as matplotlib's colormap tutorial does) is
process-wide state of the step (``flowyml.tracking.state``): a hit registers it again, and
unregisters what the step unregistered. A hit used to skip the register, so after a restart
an edited cell naming the colormap failed where plain Python drew it."""

from __future__ import annotations

from .kernel_runs import as_plain, everything, run_cells, statuses

CELLS = [
    "%%step\nimport matplotlib as mpl\nfrom matplotlib.colors import ListedColormap\n"
    "mine = ListedColormap(['red', 'green', 'blue'], name='mine')\n"
    "mpl.colormaps.register(cmap=mine)\nmpl.colormaps.register(cmap=mine.reversed())",
    "%%step\nprint(mpl.colormaps['mine'].N)",
    "%%step\nmpl.colormaps.unregister('mine_r')",
    "%%step\nprint('mine' in mpl.colormaps, 'mine_r' in mpl.colormaps)",
]
EDITED = [
    CELLS[0],
    "%%step\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
    "image = ax.imshow([[1, 2, 3]], cmap='mine')\nprint(image.get_cmap().name, mpl.colormaps['mine'](0.0, bytes=True))",
    CELLS[2],
    "%%step\nprint('mine' in mpl.colormaps, 'mine_r' in mpl.colormaps, 'viridis' in mpl.colormaps)",
]


def test_registered_colormaps_are_registered_again_by_a_hit(tmp_path):
    plain, states = as_plain(tmp_path, CELLS)
    assert plain == ["", "stdout: 3\n", "", "stdout: True False\n"], plain
    assert all(": cached" in s for s in states), states
    # after a restart, edited cells name the colormaps the hits registered (and unregistered)
    edited = [everything(o) for o in run_cells(tmp_path, EDITED, flowyml=False, write=False)]
    assert edited == ["", "stdout: mine (np.uint8(255), np.uint8(0), np.uint8(0), np.uint8(255))\n", "",
                      "stdout: True False True\n"], edited
    runs = run_cells(tmp_path, EDITED, write=False)
    assert [everything(o) for o in runs] == edited, ([everything(o) for o in runs], statuses(runs))
    assert ": cached" in statuses(runs)[0] and ": cached" in statuses(runs)[2], statuses(runs)

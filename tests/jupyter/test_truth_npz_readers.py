"""What ``np.load`` returns for an ``.npz`` file (``dem = np.load('topo.npz')``; matplotlib's
colormap-normalization tutorial reads its sample data so, through
``cbook.get_sample_data('topobathy.npz')``) is stored: its file, opened and read again on
load, and a closed reader (``with np.load(...) as z:``) as its keys
(``flowyml.store.byvalue``). ``pickle`` refuses the open file and the lock of its
``ZipFile``, so such a cell ran again after every restart. It is hashed by its file and
keys, and the steps using it read its file (``flowyml.tracking.files.value_sources``):
after the file changes, they run again and show the new data, as plain Python does."""

from __future__ import annotations

import numpy as np

from .kernel_runs import as_plain, everything, run_cells, status, statuses

CELLS = [
    "%%step\nimport numpy as np\ndem = np.load('topo.npz')",
    "%%step\nprint(dem, dem.files, dem['topo'].sum(), dem['lat'][1])",
    "%%step\nwith np.load('topo.npz') as z:\n    height = z['topo'].max()\nprint(z, z.files, height)",
    "%%step\nprint(sorted(dem.keys()), dem.f.lat.tolist())",
]


def _write(folder, scale, lat):
    np.savez(folder / "topo.npz", topo=np.arange(6).reshape(2, 3) * scale, lat=np.array([1.5, lat]))


def test_cells_keeping_npz_readers_hit_after_a_restart(tmp_path):
    _write(tmp_path, 1, 2.5)
    plain, states = as_plain(tmp_path, CELLS)
    assert "NpzFile 'topo.npz' with keys: topo, lat" in plain[1] and "15 2.5" in plain[1], plain
    assert "NpzFile 'object' with keys: topo, lat" in plain[2], plain
    assert all(": cached" in s for s in states), states


def test_cells_reading_an_npz_reader_see_its_edited_file(tmp_path):
    """The file changes after the cache is warm: the cells reading it through the reader
    another cell made run again (a wrong result before: the reader's cell ran again, but
    the cell printing ``dem['topo']`` was a hit on the old data, in the same kernel and
    after a restart)."""
    _write(tmp_path, 1, 2.5)
    run_cells(tmp_path, CELLS, write=False)
    _write(tmp_path, 10, 7.5)
    edited = [everything(o) for o in run_cells(tmp_path, CELLS, flowyml=False, write=False)]
    assert "150 7.5" in edited[1] and "50" in edited[2] and "[1.5, 7.5]" in edited[3], edited
    runs = run_cells(tmp_path, CELLS, write=False)
    assert [everything(o) for o in runs] == edited, ([everything(o) for o in runs], statuses(runs))
    assert ": cached" not in status(runs[1]), status(runs[1])
    # and in one kernel: the file changes between two runs of the cells
    cells = [*CELLS, "import numpy as np\nnp.savez('topo.npz', topo=np.ones((2, 3)), lat=np.array([0.0, 9.5]))",
             *CELLS]
    _write(tmp_path, 10, 7.5)
    both = [everything(o) for o in run_cells(tmp_path, cells, write=False)]
    _write(tmp_path, 10, 7.5)
    plain = [everything(o) for o in run_cells(tmp_path, cells, flowyml=False, write=False)]
    assert both == plain, (both, plain)
    assert "6.0 9.5" in plain[-3], plain

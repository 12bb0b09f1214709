"""Old paths keep working after the move into packages (issue 20): entries pickled with
``flowyml.cache._Pickled`` still load, in a fresh process; old exported modules' star-import
helper and old ``flowyml.cache`` names resolve."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from flowyml.store import entry as _entry
from flowyml.store.local import CacheStore

ROOT = Path(__file__).resolve().parents[2]


def test_a_bucket_entry_written_before_the_move_loads_in_a_fresh_process(tmp_path, monkeypatch):
    """Bucket entries (joblib persistence) wrap non-array outputs in ``_Pickled``; those
    written by flowyml 0.1 name it ``flowyml.cache._Pickled``. The remote store's read path
    (``unpack(numpy_pickle.load(...))``) must still load them."""
    from joblib import numpy_pickle

    path = tmp_path / "output.pkl"
    monkeypatch.setattr(_entry._Pickled, "__module__", "flowyml.cache")  # what 0.1 wrote
    with open(path, "wb") as fh:
        numpy_pickle.dump({"v": _entry.pack({"a": [1, 2, 3]})}, fh)
    monkeypatch.undo()
    assert b"flowyml.cache" in path.read_bytes()
    code = textwrap.dedent(f"""
        import sys
        from joblib import numpy_pickle
        from flowyml.store.entry import unpack
        print(unpack(numpy_pickle.load({str(path)!r}))["v"])
        assert "flowyml.cache" in sys.modules  # the old path served the wrapper
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "{'a': [1, 2, 3]}"


def test_old_exported_modules_star_import_helper_and_old_cache_names():
    star = __import__("flowyml.analysis", fromlist=["star_names"]).star_names
    assert star("math")["sqrt"](9) == 3.0
    import flowyml.cache as old

    assert old.CacheStore is CacheStore
    assert old.CacheWarning is _entry.CacheWarning
    from flowyml.keys import make_key

    assert old.make_key is make_key

"""Objects read through fsspec URLs are inputs too (recorded by ETag/size/mtime from the
store's ``info``), and an entry in a remote cache carries its file record: on the moto
server, through a real IPython shell."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("pandas")


def _cell(ip, line, body):
    return ip.run_cell(f"%%step {line}\n{body}")


def _session(ip):
    import flowyml_jupyter

    return flowyml_jupyter._LOADED[id(ip)].session


def test_a_changed_s3_object_re_runs_the_cell(ipython_on_bucket, s3, bucket, url, tmp_path,
                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    ip = ipython_on_bucket
    s3.pipe(f"{bucket}/data.csv", b"a\n1\n2\n")
    ip.run_line_magic("flowyml", f"cache dir {url}")  # the entries live in the bucket too
    body = f"import pandas as pd\ndf = pd.read_csv('s3://{bucket}/data.csv')\ntotal = int(df.a.sum())"
    _cell(ip, "", body)
    session = _session(ip)
    assert ip.user_ns["total"] == 3
    ident = session.steps["df"].made.files["urls"][f"s3://{bucket}/data.csv"]
    assert ident.get("ETag") and ident.get("size") == 6

    _cell(ip, "", body)
    assert session.steps["df"].state == "cached"

    s3.pipe(f"{bucket}/data.csv", b"a\n1\n2\n40\n")
    assert "data.csv changed" in {r.name: r for r in session.status()}["df"].why
    _cell(ip, "", body)
    rec = session.steps["df"]
    assert rec.state == "done" and ip.user_ns["total"] == 43
    assert any(f"s3://{bucket}/data.csv changed" in n for n in rec.notes), rec.notes

    s3.rm(f"{bucket}/data.csv")
    assert "is gone" in session.why("df")


def test_a_remote_cache_keeps_the_file_record_of_a_local_file(ipython_on_bucket, url, tmp_path,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    ip = ipython_on_bucket
    (tmp_path / "local.txt").write_text("5")
    ip.run_line_magic("flowyml", f"cache dir {url}")
    body = "value = int(open('local.txt').read())\nopen('made.txt', 'w').write(str(value * 2))"
    _cell(ip, "value", body)
    (tmp_path / "made.txt").unlink()

    # a restarted kernel on the same bucket
    ip.reset(new_session=True)
    import flowyml_jupyter

    flowyml_jupyter.unload_ipython_extension(ip)
    flowyml_jupyter.load_ipython_extension(ip)
    ip.run_line_magic("flowyml", f"cache dir {url}")
    _cell(ip, "value", body)
    assert _session(ip).steps["value"].state == "cached"
    assert (tmp_path / "made.txt").read_text() == "10"  # put back from the remote entry

    path = tmp_path / "local.txt"
    path.write_text("6")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _cell(ip, "value", body)
    assert _session(ip).steps["value"].state == "done" and ip.user_ns["value"] == 6

"""Bad notebooks get one clear error naming the cell (index and first line) and the fix."""

from __future__ import annotations

import pytest

from flowyml.export import NotebookExportError, export_notebook

from .conftest import make_notebook


def export_error(tmp_path, *cells: str) -> str:
    nb = make_notebook(tmp_path / "nb.ipynb", *cells)
    with pytest.raises(NotebookExportError) as info:
        export_notebook(nb, tmp_path / "out.py")
    assert not (tmp_path / "out.py").exists()
    return str(info.value)


def test_not_json(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{ this is not json")
    with pytest.raises(NotebookExportError, match=r"broken.ipynb is not a Jupyter notebook"):
        export_notebook(path, tmp_path / "out.py")


def test_json_but_not_a_notebook(tmp_path):
    path = tmp_path / "data.ipynb"
    path.write_text('{"hello": [1, 2]}')
    with pytest.raises(NotebookExportError, match="not a Jupyter notebook"):
        export_notebook(path, tmp_path / "out.py")


def test_missing_file(tmp_path):
    with pytest.raises(NotebookExportError, match="no notebook at"):
        export_notebook(tmp_path / "nope.ipynb", tmp_path / "out.py")


def test_variable_no_cell_defines(tmp_path):
    msg = export_error(tmp_path, "threshold = 1", "%%step kept\nkept = [x for x in data "
                       "if x > treshold]")
    assert "cell 1 ('%%step kept')" in msg
    assert "'data'" in msg and "no cell defines it" in msg and "--inputs" in msg


def test_misspelt_variable_gets_a_suggestion(tmp_path):
    msg = export_error(tmp_path, "threshold = 1", "%%step\nkept = treshold + 1")
    assert "'treshold'" in msg and "Did you mean 'threshold'" in msg


def test_variable_only_a_left_out_cell_defines(tmp_path):
    msg = export_error(tmp_path, "%%step\nraw = [1, 2]", "n = len(raw)",
                       "%%step\nscaled = [x * n for x in raw]")
    assert "cell 2 ('%%step')" in msg and "cell 1 ('n = len(raw)')" in msg
    assert "make cell 1 ('n = len(raw)') a %%step cell" in msg.lower().replace("Make", "make")


def test_two_steps_with_one_name(tmp_path):
    msg = export_error(tmp_path, "%%step load\na = 1", "x = 2", "%%step load -o b\nb = 2")
    assert "cell 0 ('%%step load')" in msg and "cell 2 ('%%step load -o b')" in msg
    assert "both define a step named 'load'" in msg and "rename one" in msg


def test_a_step_reading_a_name_only_a_later_cell_makes(tmp_path):
    # versions read the closest producer *above*: a later cell cannot close a cycle
    msg = export_error(tmp_path, "%%step make_a\na = b + 1", "%%step make_b\nb = a + 1")
    assert "cell 0 ('%%step make_a')" in msg and "reads 'b', but no cell defines it" in msg


@pytest.mark.parametrize("line, fragment", [
    ("%%step --retries lots", "invalid int value"),
    ("%%step bad-name", "not a Python identifier"),
    ("%%step --bogus", "unrecognized arguments"),
    ("%%step --condition 'x >'", "is not an expression"),
    ("%%step --tags 'unclosed", "cannot parse options"),
])
def test_malformed_step_line(tmp_path, line, fragment):
    msg = export_error(tmp_path, "x = 1", f"{line}\ny = x")
    assert f"cell 1 ({line!r})" in msg and fragment in msg and "Fix the %%step line" in msg


def test_declared_output_never_assigned(tmp_path):
    msg = export_error(tmp_path, "%%step -o a,b\na = 1")
    assert "cell 0" in msg and "['b']" in msg and "never assigned" in msg


def test_step_body_syntax_error(tmp_path):
    msg = export_error(tmp_path, "%%step\nx = (1,")
    assert "cell 0" in msg and "not valid Python" in msg


def test_refuses_to_overwrite_the_notebook(tmp_path):
    nb = make_notebook(tmp_path / "nb.ipynb", "x = 1")
    with pytest.raises(NotebookExportError, match="refusing to overwrite"):
        export_notebook(nb, nb)

"""Notebook text that lands in the module is escaped: it can neither break nor inject code."""

from __future__ import annotations

import ast
import importlib.util
import shlex
import string
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowyml
from flowyml.export import export_notebook

from .conftest import make_notebook

NASTY = [
    'he said "hi"', "it's", '"""', "'''", "a\nb", "back\\slash", "\x00nul", "\r\n",
    "x\u2028y", '"); import os; os.system("echo pwned"); ("', "# comment", "{braces}",
    "\\N{BULLET}", "tab\there",
]


# the %%step line is one line: what can be in it (IPython splits the cell at "\n")
IN_LINE = [v for v in NASTY if "\n" not in v and "\r" not in v]


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def export_and_load(tmp_path, nb_name, *cells, module_name="escaped_mod"):
    flowyml.clear_step_registry()
    nb = make_notebook(tmp_path / nb_name, *cells)
    out = export_notebook(nb, tmp_path / "out.py")
    text = out.read_text()
    ast.parse(text)
    try:
        return load(out, module_name), text
    finally:
        sys.modules.pop(module_name, None)


def test_nasty_strings_round_trip_exactly(tmp_path):
    tags = " ".join(shlex.quote(f"k{i}={v}") for i, v in enumerate(IN_LINE))
    desc = shlex.quote("".join(IN_LINE))
    module, text = export_and_load(
        tmp_path, "nb.ipynb", "x = 1",
        f"%%step out --tags {tags} --description {desc} --group {shlex.quote(NASTY[2])} "
        f"--pipeline {shlex.quote(NASTY[9])}\nout = x + 1",
    )
    step_obj = module.out
    assert step_obj.description == "".join(IN_LINE)
    assert step_obj.execution_group == '"""'
    assert step_obj.tags == {**{f"k{i}": v for i, v in enumerate(IN_LINE)},
                             "pipeline": NASTY[9]}
    assert "pwned" not in "".join(line for line in text.splitlines()
                                  if not line.lstrip().startswith(("@", "#", "tags", "desc",
                                                                   "pipeline=")))
    assert module.pipeline.run().outputs["out"] == 2


def test_pipeline_name_from_a_strange_file_name(tmp_path):
    module, text = export_and_load(tmp_path, 'we"ird \'name """.ipynb', "%%step\nv = 3")
    assert module.pipeline.name == 'we"ird \'name """'
    assert text.startswith('"""A pipeline, exported')


def test_condition_text_is_regenerated_not_pasted(tmp_path):
    module, text = export_and_load(
        tmp_path, "nb.ipynb", "limit = 2",
        "%%step --condition 'limit > 1 and \"a#b\" != \"\"  # ) ; import os'\nv = limit * 2",
    )
    assert 'condition=lambda limit: limit > 1 and "a#b" != ""' in text.replace("'", '"')
    assert "import os" not in text
    assert module.v.condition(limit=3) is True and module.v.condition(limit=1) is False


def test_comments_for_left_out_lines_stay_comments(tmp_path):
    _, text = export_and_load(tmp_path, "nb.ipynb", "!echo hi\rprint('injected')",
                              "%%step\nv = 1")
    tree = ast.parse(text)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and getattr(n.func, "id", None) == "print"]
    assert len(calls) == 2  # the summary and the traceback prints of the __main__ block


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                           blacklist_characters="\r\n"), max_size=20),
       group=st.text(alphabet=string.printable.replace("\n", "").replace("\r", ""),
                     max_size=10))
def test_any_tag_text_is_kept_exactly(tmp_path, value, group):
    line = f"%%step v --tags {shlex.quote('k=' + value)}"
    if group:
        line += f" --group={shlex.quote(group)}"
    module, _ = export_and_load(tmp_path, "nb.ipynb", f"{line}\nv = 1",
                                module_name="hyp_escaped")
    assert module.v.tags == {"k": value}
    assert module.v.execution_group == (group or None)

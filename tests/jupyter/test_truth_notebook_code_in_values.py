"""Values that hold the notebook's own code (SPEC §9): a scikit-learn
``FunctionTransformer(ratio)`` holds a function a cell defines, a fitted custom transformer
is an instance of a class a cell defines. Pickle knows both by name only, so the value's
digest did not move when ``ratio`` or the class's method was edited: after a restart the
cells reading the value were hits showing what the old code computed. Real kernels through
nbclient: the edited notebook, restarted, shows what plain Python shows, and the unedited
one is all hits (the code digest is the same in every process).
"""

from __future__ import annotations

import pytest

from .kernel_runs import plain_cells, printed, run_cells, statuses

pytestmark = pytest.mark.slow

pytest.importorskip("sklearn")

CELLS = [
    "%%step\nimport numpy as np\nfrom sklearn.base import BaseEstimator, TransformerMixin\n"
    "from sklearn.pipeline import make_pipeline\nfrom sklearn.preprocessing import FunctionTransformer",
    "%%step\ndef ratio(X):\n    return X[:, [0]] / X[:, [1]]",
    "%%step\nclass Center(BaseEstimator, TransformerMixin):\n"
    "    def fit(self, X, y=None):\n        self.mean_ = X.mean(axis=0)\n        return self\n"
    "    def transform(self, X):\n        return X - self.mean_",
    "%%step\nX = np.array([[1., 2.], [3., 4.], [5., 9.]])\n"
    "by_function = FunctionTransformer(ratio)\n"
    "by_class = make_pipeline(Center()).fit(X)",
    "%%step\nprint(by_function.transform(X).ravel().tolist())",
    "%%step\nprint(by_class.transform(X).ravel().tolist())",
]


def _shown(folder, cells, flowyml=True):
    runs = run_cells(folder, cells if flowyml else plain_cells(cells), flowyml)
    return [printed(o) for o in runs], statuses(runs)


def test_editing_a_function_or_class_a_value_holds_reruns_its_readers(tmp_path):
    first, _ = _shown(tmp_path, CELLS)
    assert first[4:] == ["[0.5, 0.75, 0.5555555555555556]\n", "[-2.0, -3.0, 0.0, -1.0, 2.0, 4.0]\n"], first
    again, states = _shown(tmp_path, CELLS)
    assert again == first
    assert all("cached" in s for s in states), states  # the same digest in a new process

    edited = list(CELLS)
    edited[1] = "%%step\ndef ratio(X):\n    return X[:, [1]] / X[:, [0]]"
    edited[2] = edited[2].replace("return X - self.mean_", "return (X - self.mean_) * 10")
    plain, _ = _shown(tmp_path, edited, flowyml=False)
    shown, states = _shown(tmp_path, edited)
    assert shown == plain, (shown, plain)
    assert shown[4:] == ["[2.0, 1.3333333333333333, 1.8]\n", "[-20.0, -30.0, 0.0, -10.0, 20.0, 40.0]\n"]
    assert "cached" not in states[4] and "cached" not in states[5], states


VECTORIZER = [
    "%%step\nfrom sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer",
    "%%step\ndocs = ['the cat sat', 'a dog ran far', 'cat and dog']",
    "%%step\nvec = CountVectorizer().fit(docs)\ntfidf = TfidfVectorizer(stop_words='english').fit(docs)",
    "%%step\nprint(vec.transform(['cat dog']).toarray().tolist(), sorted(tfidf.vocabulary_))",
]


def test_a_refitted_text_vectorizer_in_a_new_kernel_keeps_its_readers_cached(tmp_path):
    """scikit-learn's vectorizers keep ``id(self.stop_words)`` in their state: a fitted
    ``CountVectorizer`` had another digest in every process, so when its cell ran again
    after a restart (edited without changing the model), the cells reading it missed."""
    first, _ = _shown(tmp_path, VECTORIZER)
    assert first[3] == "[[0, 1, 1, 0, 0, 0, 0]] ['cat', 'dog', 'far', 'ran', 'sat']\n", first
    edited = list(VECTORIZER)
    edited[2] += "\nprint('fitted')"
    shown, states = _shown(tmp_path, edited)
    assert shown[2] == "fitted\n" and shown[3] == first[3]
    assert "cached" not in states[2] and "cached" in states[3], states

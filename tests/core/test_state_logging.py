"""flowyml.tracking.state's logging item: ``logging.basicConfig(...)`` and ``log.setLevel``
in a step are stored and made again on a hit; a handler of another class (a library's,
made again by its import) neither blocks storing nor is made twice."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from flowyml.tracking import state


class _LibraryHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        pass


@pytest.fixture
def clean_logging():
    """The root logger and the loggers used here as a fresh process has them, after too."""
    def reset() -> None:
        for logger in (logging.root, logging.getLogger("flowyml-test"),
                       logging.getLogger("flowyml-test.lib")):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.setLevel(logging.WARNING if logger is logging.root else logging.NOTSET)
            logger.propagate = True
    reset()
    yield
    reset()


def _bare_root() -> None:
    """Without pytest's capture handlers (added for the test's call): ``basicConfig`` does
    nothing to a root logger that has handlers; pytest removes its own after the call."""
    for handler in list(logging.root.handlers):
        logging.root.removeHandler(handler)


def test_a_configuration_is_stored_and_made_again(clean_logging, monkeypatch):
    _bare_root()
    before = state.snapshot()
    logging.basicConfig(format="%(levelname)s|%(message)s", level=logging.INFO)
    logging.getLogger("flowyml-test").setLevel(logging.DEBUG)
    library = logging.getLogger("flowyml-test.lib")
    library.addHandler(_LibraryHandler())
    library.propagate = False
    notes = state.record(before, "logging.basicConfig(...)")
    assert notes is not None and "logging" in notes["changed"] and not notes.get("unstored")

    # a fresh process: nothing configured, the library's import made its handler again
    for handler in list(logging.root.handlers):
        logging.root.removeHandler(handler)
    logging.root.setLevel(logging.WARNING)
    logging.getLogger("flowyml-test").setLevel(logging.NOTSET)
    library.propagate = True
    assert state.replay(notes) == []

    assert logging.root.level == logging.INFO
    assert logging.getLogger("flowyml-test").level == logging.DEBUG
    assert library.propagate is False and len(library.handlers) == 1  # not made twice
    (handler,) = logging.root.handlers
    out = io.StringIO()
    monkeypatch.setattr(handler, "stream", out)
    logging.getLogger("flowyml-test").debug("hello")
    assert out.getvalue() == "DEBUG|hello\n"
    assert type(handler) is logging.StreamHandler


def test_nothing_changed_records_nothing(clean_logging):
    before = state.snapshot()
    logging.getLogger("flowyml-test").info("no configuration change")
    notes = state.record(before, "")
    assert notes is None or "logging" not in notes.get("changed", [])


def test_a_handler_on_stdout_is_made_on_the_stdout_of_the_hit(clean_logging, monkeypatch):
    _bare_root()
    before = state.snapshot()
    logging.basicConfig(stream=sys.stdout, format="%(message)s")
    notes = state.record(before, "")
    for handler in list(logging.root.handlers):
        logging.root.removeHandler(handler)
    now = io.StringIO()
    now.name = "<stdout>"
    monkeypatch.setattr(sys, "stdout", now)
    assert state.replay(notes) == []
    logging.warning("shown")
    assert now.getvalue() == "shown\n"

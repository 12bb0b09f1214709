#!/usr/bin/env bash
# Set up a fresh machine for flowyml: a venv in .venv with flowyml and its test tools.
# Installs Graphviz's `dot` through apt when it is missing and we are allowed to (root);
# without it everything still works and the DAG falls back to a plain rendering.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[dev]"
# bytecode for the editable checkout, as pip writes it for an installed wheel: where
# PYTHONDONTWRITEBYTECODE is set, every kernel would otherwise compile flowyml from source
.venv/bin/python -m compileall -q flowyml flowyml_jupyter >/dev/null
if ! command -v dot >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
   && [ "${FLOWYML_NO_APT:-0}" != 1 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null) \
    || echo "note: could not install graphviz; DAGs will use the plain fallback rendering"
fi

#!/usr/bin/env bash
# Install what the real-browser end-to-end test (tests/e2e) needs:
#   - Debian's `chromium` (apt-get, only when missing and we are root),
#   - the Python `playwright` package, JupyterLab 4 and Notebook 7 in .venv (the `e2e` extra).
# Playwright drives /usr/bin/chromium through `executable_path`; it never downloads a
# browser of its own (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD is set for the pip install).
# Without chromium the e2e tests skip with a reason, so a failure here is not fatal.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if [ ! -x "$PY" ]; then
  echo "install_browser.sh: .venv is missing; run scripts/setup.sh first" >&2
  exit 1
fi

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
           chromium fonts-dejavu-core >/dev/null) \
      || echo "note: could not install chromium; the e2e browser tests will be skipped"
  else
    echo "note: /usr/bin/chromium is missing and apt-get is not usable (need root);" \
         "the e2e browser tests will be skipped"
  fi
fi

# the `e2e` extra of pyproject.toml
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$PY" -m pip install -q "playwright>=1.40,<2" "jupyterlab>=4,<5" "notebook>=7,<8" \
  || echo "note: could not install playwright/jupyterlab/notebook; the e2e browser tests will be skipped"
"$PY" -c "import playwright, jupyterlab; print('e2e tools: playwright and jupyterlab', jupyterlab.__version__)" \
  2>/dev/null || true
if [ -x /usr/bin/chromium ]; then
  /usr/bin/chromium --version 2>/dev/null || true
fi

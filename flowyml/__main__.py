"""``python -m flowyml``: the same as the ``flowyml`` command."""

import sys

from flowyml.cli import main

sys.exit(main())

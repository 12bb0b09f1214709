"""The main job (placeholder until the quickstart notebook lands): run the example pipeline."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parent.parent / "examples" / "quickstart_pipeline.py"),
               run_name="__main__")

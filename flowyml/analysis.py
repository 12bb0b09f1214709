"""Compatibility: the module modules exported by flowyml 0.1 call for ``from m import *`` inside
a step (``__import__('flowyml.analysis', fromlist=['star_names']).star_names('m')``). It
moved to :mod:`flowyml.notebook.analysis`; old exported modules keep working."""

from __future__ import annotations

from flowyml.notebook.analysis import star_names

__all__ = ["star_names"]

"""flowyml benchmarks: each one runs side by side with the tool a user would pick instead.

``python -m benchmarks`` runs them all and prints one table of ratios and absolute figures;
``--quick`` shrinks every size so the whole suite finishes in well under a minute (CI uses it
to check the suite still works). Nothing here asserts a time.

Every module ``bench_*.py`` exposes ``run(quick: bool) -> list[dict]``; a row is built with
:func:`benchmarks._common.row`.
"""

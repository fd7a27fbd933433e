"""Sweeps: the grid of recipes x formats x targets, cached by content, run on an executor.

``edgepress.sweep`` (in ``run``) is the entry point; ``grid`` reads the TOML, ``cell``
runs one cell in a worker, ``cache`` stores finished cells, ``select`` picks the best
artifact within an accuracy budget. The package is plural so that importing it never
replaces the ``edgepress.sweep`` function on the package.
"""

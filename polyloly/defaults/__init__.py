"""Packaged configuration: ``base.yaml`` (every default) and the ``dev``/``prod`` overlays.

Read through :mod:`importlib.resources` by :mod:`polyloly.config`, so an installed wheel finds
them wherever it is installed; deployment-only files (Prometheus, Grafana) stay in ``config/``.
"""

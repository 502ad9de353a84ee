"""Helpers shared by several test modules (process launchers, fake peers)."""

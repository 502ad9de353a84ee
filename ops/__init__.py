"""Operator tools: the ``polyloly`` CLI, config check, startup checks (doctor), the supervisor,
health/status/kill commands, systemd unit rendering, the demo and its reports.

This room stands on every other one (it starts and inspects the processes); nothing but the CLI
entry point stands on it.
"""

"""Sandbox backends: ``local`` (bubblewrap on this machine) and ``daytona``."""

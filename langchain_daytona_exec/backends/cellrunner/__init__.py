"""The cell runner: how one cell of Python becomes a result, on every backend.

These modules run **inside the sandbox**. The local kernel imports them from a
read-only mount next to ``kernel.py``; the Daytona backend ships their source to the
remote interpreter (see ``backends/daytona/_python.py``). One copy of the rules
(last expression, top-level ``await``, traceback trimming, result cut, figure
capture, the Node.js error line) serves both, so they cannot drift apart.

Rules for this package: standard library only, no import of the rest of
``langchain_daytona_exec``, relative imports between its modules at module top
level only (the remote loader registers them under another package name), and
source that runs on Python 3.9+.
"""

MODULES = ("text", "tables", "chart_words", "charts", "display", "hooks", "run", "remote")
"""The package's modules in load order (a module only imports earlier ones)."""

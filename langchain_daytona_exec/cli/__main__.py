"""``python -m langchain_daytona_exec.cli``: the ``daytona-exec`` command."""

from __future__ import annotations

import sys

from langchain_daytona_exec.cli import main

sys.exit(main())

"""Sandbox backends: ``local`` (bubblewrap on this machine) and ``daytona``.

Naming rule for the whole package: a private module's name starts with ``_``. The only
exceptions are the modules that run INSIDE the sandbox (``local/kernel.py`` and the
rest of ``local/_isolation.KERNEL_MODULES``, and the ``cellrunner`` package): the
sandbox imports them as top-level modules, not as part of this package.
"""

"""Deep Agents backends over our sandboxes (the optional ``deepagents`` extra).

LangChain's Deep Agents run their ``execute``, ``ls``, ``read_file``, ``write_file``,
``edit_file``, ``glob`` and ``grep`` tools through a *sandbox backend*
(``deepagents.backends.protocol.SandboxBackendProtocol``). Give ``create_deep_agent``
one made by :func:`deep_agent_backend`::

    from deepagents import create_deep_agent
    from langchain_daytona_exec import LocalBackend, SandboxPool
    from langchain_daytona_exec.deepagents import deep_agent_backend

    with LocalBackend().create() as sb:                     # one sandbox
        agent = create_deep_agent(model=..., backend=deep_agent_backend(sb))

    agent = create_deep_agent(                              # one sandbox per thread_id
        model=..., backend=deep_agent_backend(SandboxPool()), checkpointer=...
    )

It wraps the sandbox or pool in one of the two backends below, and puts Deep Agents'
artifacts (large tool results it offloads, offloaded history) in a writable folder
of the sandbox (:data:`ARTIFACTS_ROOT`) instead of the read-only ``/``:

* :class:`DeepAgentsSandbox` wraps one of our sandboxes (local bubblewrap, Daytona,
  or a pool's lease).
* :class:`PooledDeepAgentsSandbox` gives every LangGraph ``thread_id`` its own
  sandbox from a :class:`~langchain_daytona_exec.SandboxPool`, with the lifetime
  rules of our LangChain tools: each operation leases the thread's sandbox for its
  duration, calls of one thread run one at a time, idle threads are evicted after
  the pool's ``idle_ttl_s``, and the model is told once when its earlier files are
  gone. Deep Agents 0.7 dropped backend factories (``backend=lambda runtime: ...``);
  like its ``StateBackend``, this backend reads the run's config when it is called.

Only ``execute`` and the file transfers (``upload_files`` / ``download_files``) are
ours; everything else (``read`` with pagination, ``edit``, ``grep``, ``glob``,
``ls``, ``write``) is Deep Agents' own ``BaseSandbox``, which runs small Python
scripts through ``execute``. So the behaviour of those tools is exactly the one of
the installed ``deepagents`` release (for example, ``write`` refuses to overwrite
on 0.6 and overwrites on 0.7).

Paths: Deep Agents uses absolute paths. In a local sandbox only the working folder
(``/workspace``) and ``/tmp`` are writable; the rest of the filesystem is the host's
read-only runtime. Relative paths given to ``upload_files`` / ``download_files`` are
refused with ``invalid_path``, as the protocol requires.

Modules: ``_sandbox.py`` (:class:`DeepAgentsSandbox`), ``_pooled.py``
(:class:`PooledDeepAgentsSandbox`), ``_factory.py`` (:func:`deep_agent_backend`) and
``_convert.py`` (our results and errors in Deep Agents' terms).
"""

from __future__ import annotations

try:  # the modules the backends below build on
    import deepagents.backends.composite
    import deepagents.backends.protocol
    import deepagents.backends.sandbox  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "langchain_daytona_exec.deepagents needs the `deepagents` package: "
        "pip install 'langchain-daytona-exec[deepagents]'"
    ) from exc

from langchain_daytona_exec.deepagents._convert import MERGE_STDERR as MERGE_STDERR
from langchain_daytona_exec.deepagents._convert import NO_TIMEOUT_CAP_S as NO_TIMEOUT_CAP_S
from langchain_daytona_exec.deepagents._convert import TIMEOUT_NOTICE as TIMEOUT_NOTICE
from langchain_daytona_exec.deepagents._factory import ARTIFACTS_ROOT, deep_agent_backend
from langchain_daytona_exec.deepagents._pooled import PooledDeepAgentsSandbox
from langchain_daytona_exec.deepagents._sandbox import DeepAgentsSandbox

__all__ = ["ARTIFACTS_ROOT", "DeepAgentsSandbox", "PooledDeepAgentsSandbox", "deep_agent_backend"]

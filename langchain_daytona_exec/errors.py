"""The one exception tree of langchain-daytona-exec.

Every error the package raises on purpose derives from :class:`SandboxError`, so
``except SandboxError`` catches all of them. Each message says what to do next::

    SandboxError
    ├── IsolationUnavailableError       no sandbox mechanism works on this host
    ├── SandboxTimeoutError             a wait ran out (create, lease, a file operation)
    ├── SandboxLostError                the sandbox died; its state is gone
    ├── SandboxFileError                a file operation failed inside the sandbox
    │   ├── SandboxFileNotFoundError    (also a FileNotFoundError)
    │   ├── SandboxIsADirectoryError    (also an IsADirectoryError)
    │   └── SandboxFileTooLargeError
    ├── UnsupportedLanguageError        (also a ValueError)
    ├── NetworkPolicyError              a bad ``network=`` setting (also a ValueError)
    ├── EnvironmentBuildError           an Environment's packages could not be built
    ├── MissingExtraError               an optional dependency is missing (also an ImportError)
    ├── SandboxClosedError              the sandbox was closed by its owner
    ├── PoolError
    │   └── PoolExhaustedError          no sandbox could be leased in time
    └── ProviderError                   a remote provider (Daytona) refused or failed
        └── ProviderRateLimitError      HTTP 429 after all retries

A timeout of the *code* is not an exception: ``run_code`` and ``exec`` return
``timed_out=True`` with the output produced so far.
"""

from __future__ import annotations

__all__ = [
    "EnvironmentBuildError",
    "IsolationUnavailableError",
    "MissingExtraError",
    "NetworkPolicyError",
    "PoolError",
    "PoolExhaustedError",
    "ProviderError",
    "ProviderRateLimitError",
    "SandboxClosedError",
    "SandboxError",
    "SandboxFileError",
    "SandboxFileNotFoundError",
    "SandboxFileTooLargeError",
    "SandboxIsADirectoryError",
    "SandboxLostError",
    "SandboxTimeoutError",
    "UnsupportedLanguageError",
]


class SandboxError(Exception):
    """Base class of every error this package raises on purpose.

    Attributes:
        provider_info: What the remote provider reported when its answer caused the
            error (for Daytona an ``ErrorInfo``: HTTP status, ``Retry-After``, error
            code and source, transport facts); ``None`` otherwise.
    """

    provider_info: object = None


class IsolationUnavailableError(SandboxError):
    """No isolation mechanism works on this host; the message names the fix."""


class SandboxTimeoutError(SandboxError):
    """A wait ran out: creating a sandbox, leasing one, or a file operation."""


class SandboxLostError(SandboxError):
    """The sandbox died (killed, crashed, stopped or deleted); its state is gone."""


class SandboxClosedError(SandboxError):
    """The sandbox was closed by its owner and can no longer be used."""


class SandboxFileError(SandboxError):
    """A file operation inside the sandbox failed.

    Attributes:
        path: The path as the caller gave it.
    """

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class SandboxFileNotFoundError(SandboxFileError, FileNotFoundError):
    """The path does not exist inside the sandbox."""


class SandboxIsADirectoryError(SandboxFileError, IsADirectoryError):
    """A file operation was given a directory."""


class SandboxFileTooLargeError(SandboxFileError):
    """The file is larger than the configured limit."""


class UnsupportedLanguageError(SandboxError, ValueError):
    """The language is unknown, or no runtime for it exists in the sandbox."""


class NetworkPolicyError(SandboxError, ValueError):
    """A ``network=`` setting is malformed, or the backend cannot express it."""


class EnvironmentBuildError(SandboxError):
    """Building an :class:`~langchain_daytona_exec.Environment` failed.

    Attributes:
        log: The tail of the installer's output (pip's message).
    """

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


class MissingExtraError(SandboxError, ImportError):
    """A feature needs an optional dependency that is not installed.

    The message names the ``pip install 'langchain-daytona-exec[EXTRA]'`` line to run.

    Attributes:
        extra: The extra that installs what is missing (``daytona``, ``emulator``...).
        missing: The modules that could not be found.
    """

    def __init__(self, message: str, extra: str, missing: tuple[str, ...]) -> None:
        super().__init__(message)
        self.extra = extra
        self.missing = missing


class PoolError(SandboxError):
    """Base class of the errors of :class:`~langchain_daytona_exec.SandboxPool`."""


class PoolExhaustedError(PoolError):
    """Every sandbox of a full pool stayed leased past ``acquire_timeout``."""


class ProviderError(SandboxError):
    """A remote provider (Daytona) refused or failed a request.

    Attributes:
        status: The HTTP status code when there was one.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProviderRateLimitError(ProviderError):
    """The provider kept answering HTTP 429 after every retry."""

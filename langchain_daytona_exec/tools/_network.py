"""What a tool's description says about the network: the truth of the pool's backend."""

from __future__ import annotations

from typing import Any

__all__ = ["NO_NETWORK", "network_sentence"]

NO_NETWORK = "No network access."
"""The sentence in the default descriptions that :func:`network_sentence` replaces."""


def network_sentence(backend: Any) -> str:
    """One or two sentences telling the model what it can reach and whether pip works.

    Args:
        backend: The pool's backend; one without ``describe_network`` keeps
            :data:`NO_NETWORK`.
    """
    describe = getattr(backend, "describe_network", None)
    if describe is None:
        return NO_NETWORK
    reach = describe()
    if reach == "no network":
        return (
            "No network access: `pip install` cannot reach an index, so use the "
            "packages already installed."
        )
    if getattr(backend, "can_install_packages", False):
        return (
            f"Network: {reach}. `pip install <package>` works (into the sandbox) and "
            "the package can be imported at once, in the same session."
        )
    return f"Network: {reach}; other hosts are refused."

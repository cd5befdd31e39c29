"""What a tool's description says about the network and the packages: the backend's truth."""

from __future__ import annotations

from typing import Any

__all__ = ["ANALYSIS_PACKAGES", "NO_NETWORK", "network_sentence", "packages_sentence"]

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


ANALYSIS_PACKAGES = "numpy, pandas and matplotlib are installed"
"""The phrase in the default descriptions that :func:`packages_sentence` replaces."""

_ANALYSIS = ("numpy", "pandas", "matplotlib")


def packages_sentence(backend: Any) -> str:
    """Which of numpy, pandas and matplotlib the sandbox has, and the environment's packages.

    A local sandbox imports this Python's packages, so finding them here (without
    importing them) is the truth; another backend's image is not known beforehand.
    """
    spec = getattr(backend, "environment", None)
    extra = list(getattr(spec, "packages", ()) or ())
    if getattr(backend, "name", None) == "local":
        import importlib.util

        have = [m for m in _ANALYSIS if importlib.util.find_spec(m) is not None]
        if len(have) == len(_ANALYSIS):
            text = ANALYSIS_PACKAGES
        elif have:
            missing = [m for m in _ANALYSIS if m not in have]
            text = f"{', '.join(have)} installed, {', '.join(missing)} NOT installed"
        else:
            text = "numpy, pandas and matplotlib are NOT installed"
    else:
        text = "numpy, pandas and matplotlib are usually installed (check by importing)"
    if extra:
        text += f"; the environment adds {', '.join(extra)}"
    return text

"""Say which extra to install when an adapter's library is missing (the adapters are optional)."""

from __future__ import annotations


def missing(error: ImportError, extra: str, *, what: str) -> ModuleNotFoundError:
    """The error to raise from ``error`` (a failed import): it names ``pip install 'agentfs[extra]'``.

    Use it as ``except ImportError as exc: raise missing(exc, "langchain", what=...) from exc``.
    """
    package = (error.name or "a required package").split(".")[0]
    return ModuleNotFoundError(f"{what} needs the {package} package: pip install 'agentfs[{extra}]'",
                               name=error.name)

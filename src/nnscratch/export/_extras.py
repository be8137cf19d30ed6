"""The optional libraries of export, imported on use: a missing one is one line naming the
extra (``pip install 'nnscratch[export]'``), and torch is named as a run-time requirement of
``--format torch`` (it is not a dependency of nnscratch)."""

from __future__ import annotations

import importlib
from types import ModuleType

EXPORT_EXTRA = "pip install 'nnscratch[export]'"


class MissingExtraError(ImportError):
    """An optional library that the export needs is not installed."""


def require(module: str, *, purpose: str, install: str = EXPORT_EXTRA) -> ModuleType:
    """``import module`` or MissingExtraError: "<purpose> needs <module>: <install>"."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(f"{purpose} needs {module.split('.')[0]}: {install}") from err


def require_torch() -> ModuleType:
    return require(
        "torch",
        purpose="export to PyTorch",
        install="install PyTorch (https://pytorch.org; e.g. pip install torch); it is needed at "
        "run time only",
    )

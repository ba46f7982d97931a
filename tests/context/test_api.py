"""The public surface of agentfs.context: every export is what it says, never a submodule."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import agentfs.context as context


def test_every_export_is_a_function_or_class_even_after_submodule_imports() -> None:
    for module in ("compress", "dedup", "gather", "order", "render", "replay", "select", "constructor"):
        importlib.import_module(f"agentfs.context.{module}")
    assert sorted(context.__all__) == sorted(set(context.__all__))
    for name in context.__all__:
        value = getattr(context, name)
        assert not isinstance(value, types.ModuleType), name
        assert callable(value), name


def test_importing_agentfs_does_not_import_the_pipeline() -> None:
    code = "import sys, agentfs; print(any(m.startswith('agentfs.context') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

"""Model intake, by where the model comes from: ``torch`` (an ``nn.Module``, a factory, ``.pt2``
and TorchScript files), ``keras`` (Keras 3 and tf-keras models and files) and ``files``
(``load``: suffix and magic checks, then the format's loader)."""

from __future__ import annotations

from typing import Any

# ``edgepress.intake`` was one module; its names still resolve here, with a warning.
_MOVED = {"from_torch": "torch", "from_factory": "torch", "module_of_program": "torch", "TorchModel": "torch", "load": "files", "SUFFIX_FORMATS": "files"}


def __getattr__(name: str) -> Any:
    import importlib
    import warnings

    if name not in _MOVED:
        raise AttributeError(f"module 'edgepress.intake' has no attribute {name!r}")
    where = f"edgepress.intake.{_MOVED[name]}"
    public = f" (or use edgepress.{name})" if name in ("from_torch", "from_factory", "load") else ""
    warnings.warn(f"edgepress.intake.{name} moved to {where}.{name}{public}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(where), name)

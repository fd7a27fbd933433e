"""The cache a decoder carries from one call to the next, shared by every runtime's runner."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CacheState:
    """The runtime's KV-cache tensors by input name, and how many positions they hold."""

    cache: dict[str, np.ndarray]
    length: int = 0

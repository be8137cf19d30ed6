"""Work arrays a layer reuses from one batch to the next instead of allocating fresh ones.

A CNN layer's outputs and gradients are 2-16 MB each; a fresh array of that size per batch
costs more than the arithmetic that fills it (the allocator hands large blocks back to the
kernel and gets them again, page by page, zeroed). ``WorkArrays`` keeps one array per name
and hands it out again for the next pass, with one safety rule:

    an array is handed out again only when nobody but the ``WorkArrays`` still holds it

(no cache, no caller, no view of it: ``sys.getrefcount`` counts every view too, since a view's
``base`` is the array that owns the memory). A layer's output kept in a cache for backward is
therefore never overwritten: two forward passes in a row simply get two arrays, and each
backward sees its own pass's data. A smaller batch (the end of an epoch) gets a view of the
front of the array it already has; a larger one gets a new array.

Pickles and copies of a layer carry an empty ``WorkArrays`` (``__reduce__``), never its
arrays; every network and every copy of a layer has its own. ``ConvNetwork.release_work_arrays``
clears them (``clear``); until then a network keeps a batch's worth of arrays. One layer
object is not for two threads at once (the check and the hand-out are two steps; the conv's
padded-input array is shared the same way).

``WorkArrays.reuse`` (class attribute, True) is the switch: False makes ``get`` return a fresh
``np.empty`` every time, the plain code that the tests compare the reuse with.
"""

from __future__ import annotations

import math
import sys

import numpy as np


def _holders(array: np.ndarray) -> int:
    return sys.getrefcount(array)


def _unheld_count() -> int:
    """What ``_holders`` reports for an array held only by one dict entry and one local name
    (the situation inside ``WorkArrays.get``), measured rather than assumed."""
    arrays = {"probe": np.empty(1)}
    array = arrays["probe"]
    return _holders(array)


_UNHELD = _unheld_count()


class WorkArrays:
    """Reusable arrays by name: ``get(name, shape, dtype)`` -> an uninitialised array."""

    reuse: bool = True

    def __init__(self) -> None:
        self._owners: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An array of ``shape`` and ``dtype`` with arbitrary contents: the one kept under
        ``name`` when it is large enough and nobody else holds it, else a new one (kept)."""
        if not self.reuse:
            return np.empty(shape, dtype=dtype)
        size = math.prod(shape)
        owner = self._owners.get(name)
        if owner is None or owner.dtype != dtype or owner.size < size or _holders(owner) != _UNHELD:
            owner = np.empty(size, dtype=dtype)
            self._owners[name] = owner
        return owner[:size].reshape(shape)

    def clear(self) -> None:
        self._owners.clear()

    def __len__(self) -> int:
        return len(self._owners)

    def __reduce__(self):
        return (WorkArrays, ())  # pickles and copies start empty


def work_arrays(layer) -> WorkArrays:
    """The layer's ``WorkArrays`` (made on first use, so that layers unpickled from before
    it existed get one too)."""
    work = layer.__dict__.get("_work")
    if work is None:
        work = layer.__dict__["_work"] = WorkArrays()
    return work

"""The one registry of model classes, by the name that model files and checkpoints store.

A model class registers itself with ``@register``; everything that saves or rebuilds a model
goes through this module:

    name = class_name_of(net)                     # "Network", "ConvNetwork", "Ensemble", ...
    check_model_size(name, config, stored)        # before building a described model
    check_build_size(name, config, members=k)     # before building k networks from flags
    net = model_from_config(name, config)

Each class counts its own weights from its description (``cls.count_weights(config)``), so
the file readers below import no model class and a forged description is refused before
anything is allocated.
"""

from __future__ import annotations

from typing import Any

from nnscratch.base.limits import (
    MAX_DESCRIPTION_ITEMS,
    MAX_MEMBERS,
    MAX_MODEL_BYTES,
    check_count,
    check_declared_size,
)

#: Model classes by name. Read-only for everyone but ``register``.
MODEL_CLASSES: dict[str, type[Any]] = {}

#: weights a description may claim beyond what the file stores before it is refused unbuilt
#: (small mismatches are left to the exact per-array checks, whose messages are clearer)
SIZE_SLACK = 1 << 20


def register(cls: type) -> type:
    """Class decorator: make ``cls`` known to model files under its class name. The class
    provides ``config()``, ``from_config(config)`` and ``count_weights(config)``."""
    MODEL_CLASSES[cls.__name__] = cls
    return cls


def class_name_of(model: Any) -> str:
    """The registered name of ``model``'s class (exactly that class, not a subclass)."""
    name = type(model).__name__
    if MODEL_CLASSES.get(name) is not type(model):
        raise ValueError(
            f"{name} is not a registered model class (registered: {', '.join(MODEL_CLASSES)}); "
            "decorate it with nnscratch.models.registry.register"
        )
    return name


def model_class(name: object) -> type[Any]:
    if not isinstance(name, str) or name not in MODEL_CLASSES:
        raise ValueError(f"unknown model class {name!r}; known: {', '.join(MODEL_CLASSES)}")
    return MODEL_CLASSES[name]


def model_from_config(name: object, config: dict) -> Any:
    """Rebuild a model from the class name and config that a file stores."""
    return model_class(name).from_config(config)


def count_weights(name: object, config: object) -> int | None:
    """How many parameter values the described model would allocate, from its description
    alone; None when the description does not say (or is not a valid one)."""
    if not isinstance(config, dict):
        return None
    try:
        cls = model_class(name)
    except ValueError:
        return None
    return cls.count_weights(config)


#: characters a string of a description may hold (an architecture of 1,000 tokens fits)
MAX_DESCRIPTION_CHARS = 20_000


def check_description(config: object, what: str = "the network description") -> None:
    """Raise ValueError when a (JSON) description holds a list of more than
    ``MAX_DESCRIPTION_ITEMS`` items (layers, ensemble members, a seed...) or a string of more
    than ``MAX_DESCRIPTION_CHARS``: what a forged file or flag declares is refused before any
    of it is built. Iterative, so no nesting depth can exhaust the stack."""
    todo = [config]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            check_count(f"{what}: a mapping's keys", len(item), MAX_DESCRIPTION_ITEMS)
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, (list, tuple)):
            check_count(f"{what}: a list's items", len(item), MAX_DESCRIPTION_ITEMS)
            todo.extend(item)
        elif isinstance(item, str) and len(item) > MAX_DESCRIPTION_CHARS:
            raise ValueError(
                f"{what}: a string of {len(item):,} characters, above the limit of "
                f"{MAX_DESCRIPTION_CHARS:,}"
            )


def check_build_size(name: object, config: object, *, members: int = 1) -> None:
    """Raise ValueError, before anything is built, when ``members`` models described by
    ``(name, config)`` are more than ``MAX_MEMBERS`` or would need more than
    ``MAX_MODEL_BYTES`` of float64 weights (the figure and the limit in the message):
    ``--ensemble 100000``, ``--layers 1000000``, ``--architecture dense100000000``."""
    check_count("ensemble members", members, MAX_MEMBERS)
    check_description(config)
    needed = count_weights(name, config)
    if needed is not None:
        check_declared_size(
            f"{members} network(s) of {needed:,} weights each", members * needed, 8,
            MAX_MODEL_BYTES,
        )  # fmt: skip


def check_model_size(name: object, config: object, stored_elements: int) -> None:
    """Raise ValueError when the model a file describes would need more weights than the
    ``stored_elements`` the file's parameter arrays hold (plus ``SIZE_SLACK``): a forged
    description cannot make the loader allocate memory that the file does not back. Its
    lists and strings are bounded first (``check_description``)."""
    check_description(config)
    needed = count_weights(name, config)
    if needed is not None and needed > max(stored_elements, SIZE_SLACK):
        raise ValueError(
            f"the described network needs {needed} weights but the file stores only "
            f"{stored_elements} parameter values"
        )

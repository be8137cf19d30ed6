"""The one registry of model classes, by the name that model files and checkpoints store.

A model class registers itself with ``@register``; everything that saves or rebuilds a model
goes through this module:

    name = class_name_of(net)                     # "Network", "ConvNetwork", "Ensemble", ...
    check_model_size(name, config, stored)        # before building a described model
    net = model_from_config(name, config)

Each class counts its own weights from its description (``cls.count_weights(config)``), so
the file readers below import no model class and a forged description is refused before
anything is allocated.
"""

from __future__ import annotations

from typing import Any

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


def check_model_size(name: object, config: object, stored_elements: int) -> None:
    """Raise ValueError when the model a file describes would need more weights than the
    ``stored_elements`` the file's parameter arrays hold (plus ``SIZE_SLACK``): a forged
    description cannot make the loader allocate memory that the file does not back."""
    needed = count_weights(name, config)
    if needed is not None and needed > max(stored_elements, SIZE_SLACK):
        raise ValueError(
            f"the described network needs {needed} weights but the file stores only "
            f"{stored_elements} parameter values"
        )

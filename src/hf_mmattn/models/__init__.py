"""The model zoo: one folder per architecture, found by :func:`discover`.

A folder ``models/<name>/`` holds ``configuration_<name>.py``, ``modeling_<name>.py``, its model
card template ``card.md`` and, when the released checkpoints convert, ``convert_<name>.py``; its
``__init__.py`` declares what it is with a :class:`ModelDeclaration` named ``MODEL``. Registration with transformers' Auto classes, the
converter command, the example scripts' ``--model_type`` choices and the tests read the
declarations: adding a model is adding a folder (docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class ModelDeclaration:
    """What a model folder is.

    family: the task family (``tasks/<family>``: ``"vqa"``, ``"captioning"``), whose Auto class,
        processor, pipeline and contract tests the model gets.
    config: the config class; its ``model_type`` is ``"mmattn_<name>"``, its ``presets`` hold the
        released settings, the examples' training recipes and the tests' ``"tiny"`` sizes.
    heads: the task models, in order: the first is registered with the family's Auto class.
    base: the headless model ``AutoModel`` loads (``None`` when the head is its own base model,
        as for the captioners).
    name: the folder name, also the examples' ``--model_type`` (set by :func:`discover`).
    """

    family: str
    config: type
    heads: tuple[type, ...]
    base: type | None = None
    name: str = ""

    @property
    def converter_module(self) -> str | None:
        """``hf_mmattn.models.<name>.convert_<name>`` when the folder has a converter."""
        module = f"{__name__}.{self.name}.convert_{self.name}"
        return module if importlib.util.find_spec(module) is not None else None

    @property
    def auto_model(self) -> type:
        return self.base or self.heads[0]


@cache
def _discover() -> tuple[ModelDeclaration, ...]:
    declarations = []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if not module_info.ispkg:
            continue
        package = importlib.import_module(f"{__name__}.{module_info.name}")
        declaration = getattr(package, "MODEL", None)
        if not isinstance(declaration, ModelDeclaration):
            raise TypeError(f"models/{module_info.name}/__init__.py must declare MODEL = ModelDeclaration(...)")
        if declaration.config.model_type != f"mmattn_{module_info.name}":
            raise ValueError(
                f"models/{module_info.name}: the config's model_type must be 'mmattn_{module_info.name}', "
                f"got {declaration.config.model_type!r}"
            )
        declarations.append(dataclasses.replace(declaration, name=module_info.name))
    return tuple(declarations)


def discover(family: str | None = None) -> list[ModelDeclaration]:
    """Every model folder's declaration (of one ``family`` if given), sorted by name."""
    return [declaration for declaration in _discover() if family is None or declaration.family == family]


def get_model(name: str) -> ModelDeclaration:
    """The declaration of ``models/<name>``."""
    for declaration in _discover():
        if declaration.name == name:
            return declaration
    raise ValueError(f"unknown model {name!r}; choose one of {[d.name for d in _discover()]}")


__all__ = ["ModelDeclaration", "discover", "get_model"]

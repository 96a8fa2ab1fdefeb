"""Task families: the code every model of a task shares, one package each (``tasks/<family>/``):
its config fields, outputs, loss and input checks (``modeling.py``), processor, pipeline (only
where transformers lacks one), metrics, and a :class:`TaskFamily` declaration named ``FAMILY``
that registration reads. A model folder names its family in its ``ModelDeclaration``."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType


@dataclass(frozen=True)
class TaskFamily:
    """What a task family brings to transformers.

    name: the folder name under ``tasks/`` (what model declarations name as their family).
    auto_class: the Auto class of the family's task heads (``AutoModelForVisualQuestionAnswering``...).
    processor_class: the processor ``AutoProcessor`` loads for the family's checkpoints; ``None`` for
        text-only families, whose tokenizer ``AutoTokenizer`` loads from the checkpoint.
    image_processor_class: registered with ``AutoImageProcessor`` for the family's configs (a
        processor cannot be loaded unless its image processor is registered); ``None`` for
        families that read no images.
    register_pipelines: adds the family's pipeline to transformers' registry, where transformers
        has none or lacks what the family needs; nothing for families transformers' built-in
        pipeline serves.
    card: the family's part of a model card (``tasks/<family>/card.py``): ``PIPELINE_TAG``,
        ``HUB_METRICS`` (the metric ids of the card's metadata), ``USAGE`` (the usage snippet,
        formatted with ``pipeline_tag`` and ``model_id``) and ``model_index_metrics(eval_results)``
        (the (type, name, value) entries of the card's model-index).
    """

    name: str
    auto_class: type
    processor_class: type | None
    image_processor_class: type | None = None
    register_pipelines: Callable[[], None] = field(default=lambda: None)
    card: ModuleType | None = None


@cache
def _families() -> dict[str, TaskFamily]:
    families = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if module_info.ispkg:
            family = getattr(importlib.import_module(f"{__name__}.{module_info.name}"), "FAMILY", None)
            if isinstance(family, TaskFamily):
                families[family.name] = family
    return families


def families() -> dict[str, TaskFamily]:
    """Every task family, by name."""
    return dict(_families())


def get_family(name: str) -> TaskFamily:
    found = _families().get(name)
    if found is None:
        raise ValueError(f"unknown task family {name!r}; the families are {sorted(_families())}")
    return found


__all__ = ["TaskFamily", "families", "get_family"]

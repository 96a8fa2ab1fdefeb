"""Model cards and pushing to the Hugging Face Hub.

Every architecture has a card template in its folder, ``models/<name>/card.md``, where
``<name>`` is the config's ``model_type`` without the ``mmattn_`` prefix. The template is a
Jinja document describing the paper (e.g. Yang et al.,
"Stacked Attention Networks for Image Question Answering", CVPR 2016; Antol et al., "VQA:
Visual Question Answering", ICCV 2015), the equations implemented, where the paper and its
released code differ, and the results measured for this checkpoint. :func:`build_model_card`
fills it in and adds the Hub metadata (tags, pipeline tag, model-index); the task family gives
its part (``tasks/<family>/card.py``: metric ids, usage snippet, model-index entries).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData, create_repo, upload_folder
from transformers import PreTrainedConfig

__all__ = ["build_model_card", "save_model_card", "push_folder_to_hub"]

MODEL_TYPE_PREFIX = "mmattn_"
PLACEHOLDER_MODEL_ID = "path/to/checkpoint-or-hub-id"

# Fields every transformers config carries, and the loading metadata save_pretrained adds:
# not architecture hyperparameters.
_BASE_CONFIG_KEYS = frozenset(PreTrainedConfig().to_dict()) | {"auto_map", "custom_pipelines"}


def build_model_card(
    model,
    *,
    eval_results: dict | None = None,
    dataset_id: str | None = None,
    dataset_name: str | None = None,
    training_summary: dict | None = None,
    model_id: str | None = None,
) -> ModelCard:
    """Render the model card of a trained model from its architecture's template.

    Args:
        model: a model of this package (``config.model_type`` starts with ``mmattn_``).
        eval_results: measured results. VQA models: accuracies in percent, e.g.
            ``{"vqa_accuracy": 99.3, "per_answer_type": {"yes/no": 99.9, "shape": 98.7,
            "color": 99.0}, "num_questions": 9673, "split": "test"}`` (``per_answer_type``,
            ``num_questions`` and ``split`` are optional). Captioners (pipeline tag
            ``image-text-to-text``): what :func:`hf_mmattn.metrics.compute_caption_metrics`
            returns, e.g. ``{"bleu_1": 0.71, ..., "bleu_4": 0.24, "meteor": 0.24, "rouge_l": 0.5,
            "cider_d": 0.85, "num_images": 5000, "split": "test", "num_beams": 3}`` (fractions;
            shown x100); a ``None`` metric (METEOR without Java) is left out. They fill the
            card's results table and its model-index metadata. Requires ``dataset_id``.
        dataset_id: the dataset's Hub id or name (metadata ``datasets`` and model-index type).
        dataset_name: a readable dataset name; defaults to ``dataset_id``.
        training_summary: free-form facts about training shown in the card, e.g.
            ``{"epochs": 10, "train_time_s": 95, "hardware": "2-core CPU", "command": "..."}``.
        model_id: the Hub id or folder the usage snippet loads; a placeholder when omitted.

    Returns:
        A :class:`huggingface_hub.ModelCard`; ``card.save(path)`` writes it.
    """
    from .models import discover, get_model  # imported here: the models import this module on save
    from .tasks import families, get_family

    config = model.config
    name = model_name(config.model_type)
    template = card_template(name)
    if template is None:
        available = sorted(model.name for model in discover() if card_template(model.name) is not None)
        raise ValueError(
            f"no model card template for model_type {config.model_type!r}; templates exist for {available}."
        )
    if eval_results and dataset_id is None:
        raise ValueError(
            "eval_results need dataset_id: the model-index names the dataset the results were measured on."
        )
    dataset_name = dataset_name or dataset_id
    # The family's part of the card follows the model's pipeline tag (its family's, by default).
    declared = get_family(get_model(name).family)
    pipeline_tag = getattr(type(model), "pipeline_tag", None) or declared.card.PIPELINE_TAG
    family = next((f for f in families().values() if f.card and f.card.PIPELINE_TAG == pipeline_tag), declared)

    card_data = ModelCardData(
        library_name="transformers",
        license="apache-2.0",
        tags=["hf-mmattn", name, pipeline_tag],
        pipeline_tag=pipeline_tag,
        datasets=[dataset_id] if dataset_id else None,
        metrics=list(family.card.HUB_METRICS),
        # model-index entries are named after the model; without results there is no model-index.
        model_name=(model_id or name) if eval_results else None,
        eval_results=_model_index(family, eval_results, dataset_id, dataset_name, pipeline_tag) if eval_results else None,
    )
    config_dict = config.to_dict()
    return ModelCard.from_template(
        card_data,
        template_str=template.read_text(encoding="utf-8"),
        model_name=name,
        model_type=config.model_type,
        model_id=model_id,
        num_parameters=model.num_parameters(),
        config=config_dict,
        hyperparameters=_hyperparameters(config_dict),
        eval_results=eval_results,
        dataset_id=dataset_id,
        dataset_name=dataset_name,
        training_summary=training_summary,
        usage=family.card.USAGE.format(pipeline_tag=pipeline_tag, model_id=model_id or PLACEHOLDER_MODEL_ID),
    )


def card_template(name: str):
    """``models/<name>/card.md`` as an importlib resource, or ``None`` when there is none."""
    try:
        template = files(f"hf_mmattn.models.{name}") / "card.md"
    except ModuleNotFoundError:
        return None
    return template if template.is_file() else None


def save_model_card(save_directory: str | Path, model, **kwargs) -> Path:
    """Write ``README.md`` (the card of :func:`build_model_card`, same keyword arguments) into
    ``save_directory`` and return its path."""
    path = Path(save_directory) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    build_model_card(model, **kwargs).save(path)
    return path


def push_folder_to_hub(
    folder: str | Path,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    commit_message: str = "Upload hf-mmattn model",
) -> str:
    """Upload a saved checkpoint folder, model card included, to a Hub model repository.

    Use this rather than ``model.push_to_hub``: transformers' own push writes a generic
    auto-generated README.md over the card written by :func:`save_model_card`. This function
    uploads the folder as it is on disk (``save_pretrained`` output, processor files,
    README.md, attention figures), creating the repository if needed; the ``checkpoints/``
    subfolder of training states is left out.

    Returns:
        The URL of the commit.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder; save the model with save_pretrained first.")
    create_repo(repo_id, token=token, private=private, exist_ok=True)
    commit = upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        token=token,
        commit_message=commit_message,
        ignore_patterns=["checkpoints/**"],  # run_vqa.py's resumable training states stay local
    )
    return commit.commit_url


def model_name(model_type: str) -> str:
    """The architecture's short name, as used for its card template: ``mmattn_san`` -> ``san``."""
    return model_type.removeprefix(MODEL_TYPE_PREFIX)


def _model_index(family, eval_results: dict, dataset_id: str, dataset_name: str, pipeline_tag: str) -> list[EvalResult]:
    """The family's metrics of ``eval_results`` (``tasks/<family>/card.py``) as model-index entries."""
    return [
        EvalResult(
            task_type=pipeline_tag,
            dataset_type=dataset_id,
            dataset_name=dataset_name,
            dataset_split=eval_results.get("split"),
            metric_type=metric_type,
            metric_name=metric_name,
            metric_value=value,
        )
        for metric_type, metric_name, value in family.card.model_index_metrics(eval_results)
    ]


def _hyperparameters(config_dict: dict) -> dict:
    """The architecture's own config fields; a nested config is shown by its model_type."""
    return {
        key: f"{value.get('model_type', 'nested')} config" if isinstance(value, dict) else value
        for key, value in config_dict.items()
        if key not in _BASE_CONFIG_KEYS
    }

"""Tests of hf_mmattn.hub: model cards rendered from the templates, and the push helper."""

import pytest
import torch
from huggingface_hub import ModelCard
from huggingface_hub.utils import filter_repo_objects
from transformers import PreTrainedConfig, PreTrainedModel

from hf_mmattn import hub
from hf_mmattn.hub import build_model_card, push_folder_to_hub, save_model_card

EVAL_RESULTS = {
    "vqa_accuracy": 99.3,
    "per_answer_type": {"yes/no": 99.9, "shape": 98.7, "color": 99.0},
    "num_questions": 9673,
}
ANSWERS = {0: "yes", 1: "no", 2: "circle", 3: "red"}


class StandInSanConfig(PreTrainedConfig):
    """Carries the SAN config fields the card prints; not the real SAN config."""

    model_type = "mmattn_san"

    def __init__(self, hidden_size=8, num_hops=2, attention_form="code", answer_head="mlp", **kwargs):
        self.hidden_size = hidden_size
        self.num_hops = num_hops
        self.attention_form = attention_form
        self.answer_head = answer_head
        self.question_encoder = "lstm"
        self.image_encoder = "scratch_cnn"
        super().__init__(**kwargs)


class StandInBaselineConfig(PreTrainedConfig):
    model_type = "mmattn_lstm_q_norm_i"

    def __init__(self, hidden_size=8, **kwargs):
        self.hidden_size = hidden_size
        super().__init__(**kwargs)


class UnknownConfig(PreTrainedConfig):
    model_type = "mmattn_no_such_model"

    def __init__(self, hidden_size=8, **kwargs):
        self.hidden_size = hidden_size
        super().__init__(**kwargs)


class StandInModel(PreTrainedModel):
    """One linear layer: enough for num_parameters() and the config."""

    config_class = PreTrainedConfig

    def __init__(self, config):
        super().__init__(config)
        self.classifier = torch.nn.Linear(config.hidden_size, len(config.id2label))
        self.post_init()


class StandInCaptioner(StandInModel):
    pipeline_tag = "image-text-to-text"


def san(**kwargs):
    return StandInModel(StandInSanConfig(id2label=ANSWERS, **kwargs))


def test_card_metadata_round_trips(tmp_path):
    path = save_model_card(
        tmp_path, san(), eval_results=EVAL_RESULTS, dataset_id="easy-vqa", dataset_name="easy-VQA",
        model_id="someone/san-easy-vqa",
    )
    assert path == tmp_path / "README.md"
    card = ModelCard.load(path)
    data = card.data
    assert data.pipeline_tag == "visual-question-answering"
    assert data.library_name == "transformers"
    assert data.license == "apache-2.0"
    assert data.tags == ["hf-mmattn", "san", "visual-question-answering"]
    assert data.datasets == ["easy-vqa"]
    assert data.model_name == "someone/san-easy-vqa"
    overall, *per_type = data.eval_results
    assert (overall.metric_name, overall.metric_value) == ("VQA accuracy", 99.3)
    assert overall.task_type == "visual-question-answering"
    assert (overall.dataset_type, overall.dataset_name) == ("easy-vqa", "easy-VQA")
    assert {r.metric_name: r.metric_value for r in per_type} == {
        "VQA accuracy (yes/no)": 99.9, "VQA accuracy (shape)": 98.7, "VQA accuracy (color)": 99.0,
    }
    assert "| VQA accuracy | 99.30 |" in card.text
    assert "| VQA accuracy, shape | 98.70 |" in card.text
    assert "9,673 questions" in card.text
    assert 'model="someone/san-easy-vqa"' in card.text


def test_card_without_results_has_no_model_index(tmp_path):
    path = save_model_card(tmp_path, san())
    card = ModelCard.load(path)
    assert card.data.eval_results is None
    assert "model-index" not in card.content
    assert "datasets" not in card.data.to_dict()
    assert "was not evaluated" in card.text
    assert hub.PLACEHOLDER_MODEL_ID in card.text


def test_san_card_describes_this_checkpoint():
    model = san(attention_form="code", answer_head="linear")
    text = build_model_card(
        model, training_summary={"epochs": 3, "hardware": "2-core CPU", "command": "python run_vqa.py --model_type san"}
    ).text
    assert f"It has {model.num_parameters():,}" in text
    assert 'This checkpoint: `attention_form="code"`' in text and '`answer_head="linear"`' in text
    assert "| `hidden_size` | 8 |" in text and "| answers | 4 |" in text
    assert "| epochs | 3 |" in text and "python run_vqa.py --model_type san" in text
    assert "58.7 (?)" in text
    assert "zcyang/imageqa-san" in text


@pytest.mark.parametrize(
    "config_class, citations",
    [
        (StandInSanConfig, ["Stacked Attention Networks for Image Question Answering", "@inproceedings{antol2015vqa"]),
        (StandInBaselineConfig, ["@inproceedings{antol2015vqa", "{{VQA}: Visual Question Answering"]),
    ],
)
def test_both_templates_render_with_citations(config_class, citations):
    model = StandInModel(config_class(id2label=ANSWERS))
    card = build_model_card(model, eval_results=EVAL_RESULTS, dataset_id="easy-vqa")
    assert card.data.pipeline_tag == "visual-question-answering"
    for citation in citations:
        assert citation in card.text
    assert "{{ " not in card.content and "{%" not in card.content  # every Jinja tag was rendered
    assert "| VQA accuracy | 99.30 |" in card.text


def test_baseline_card_has_the_paper_numbers():
    text = build_model_card(StandInModel(StandInBaselineConfig(id2label=ANSWERS))).text
    assert "57.75" in text and "58.16" in text
    assert "GT-Vision-Lab/VQA_LSTM_CNN" in text


def test_pipeline_tag_comes_from_the_model_class():
    card = build_model_card(StandInCaptioner(StandInSanConfig(id2label=ANSWERS)))
    assert card.data.pipeline_tag == "image-text-to-text"
    assert "image-text-to-text" in card.data.tags


def test_bad_arguments_get_clear_errors():
    with pytest.raises(ValueError, match="no model card template.*'san'"):
        build_model_card(StandInModel(UnknownConfig(id2label=ANSWERS)))
    with pytest.raises(ValueError, match="dataset_id"):
        build_model_card(san(), eval_results=EVAL_RESULTS)
    with pytest.raises(ValueError, match="vqa_accuracy"):
        build_model_card(san(), eval_results={"accuracy": 99.0}, dataset_id="easy-vqa")


def test_push_folder_to_hub_creates_the_repo_and_uploads_the_folder(tmp_path, monkeypatch):
    calls = []

    class Commit:
        commit_url = "https://huggingface.co/someone/san/commit/abc"

    monkeypatch.setattr(hub, "create_repo", lambda repo_id, **kwargs: calls.append(("create", repo_id, kwargs)))
    monkeypatch.setattr(hub, "upload_folder", lambda **kwargs: calls.append(("upload", kwargs)) or Commit())
    save_model_card(tmp_path, san())

    url = push_folder_to_hub(tmp_path, "someone/san", token="t", private=True, commit_message="first")

    assert url == Commit.commit_url
    assert calls[0] == ("create", "someone/san", {"token": "t", "private": True, "exist_ok": True})
    kind, uploaded = calls[1]
    assert kind == "upload"
    assert {k: uploaded[k] for k in ("repo_id", "folder_path", "token", "commit_message")} == {
        "repo_id": "someone/san", "folder_path": tmp_path, "token": "t", "commit_message": "first"
    }
    # What huggingface_hub would upload of a run_vqa.py output folder: not the training states.
    files = ["README.md", "config.json", "model.safetensors", "attention_0.png",
             "checkpoints/step_500/model.safetensors", "checkpoints/step_500/optimizer.bin"]
    kept = list(filter_repo_objects(files, ignore_patterns=uploaded.get("ignore_patterns")))
    assert kept == ["README.md", "config.json", "model.safetensors", "attention_0.png"]
    with pytest.raises(ValueError, match="not a folder"):
        push_folder_to_hub(tmp_path / "missing", "someone/san")

"""Tests of examples/text_classification/run_text_classification.py: end to end on generated
deciding-sentence documents (train, accuracy and the attention on the deciding sentences, a folder
that the Auto classes and transformers' own text-classification pipeline load, card, figures),
exact resume from a checkpoint, a released dataset format, and pretrained word vectors."""

import importlib.util
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, pipeline

import hf_mmattn  # noqa: F401
from hf_mmattn import HanForSequenceClassification
from hf_mmattn.data import generate_deciding_sentence_documents

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "text_classification" / "run_text_classification.py"
NUM_TRAIN, NUM_TEST, TRAIN_BATCH = 40, 12, 16
TINY = "word_embedding_size=8,word_hidden_size=6,sentence_hidden_size=6,word_attention_size=8,sentence_attention_size=8"
COMMON = ["--model_type", "han", "--num_train_documents", str(NUM_TRAIN), "--num_validation_documents", "4", "--num_test_documents",
          str(NUM_TEST), "--per_device_train_batch_size", str(TRAIN_BATCH), "--seed", "0", "--config_overrides", TINY]
STEPS_PER_EPOCH = math.ceil(NUM_TRAIN / TRAIN_BATCH)


@pytest.fixture(scope="module")
def run_text_classification():
    spec = importlib.util.spec_from_file_location("run_text_classification_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_evaluate_save(run_text_classification, tmp_path):
    output_dir = tmp_path / "han"
    results = run_text_classification.main([*COMMON, "--num_train_epochs", "2", "--num_attention_figures", "2", "--output_dir", str(output_dir)])
    assert results["completed_steps"] == 2 * STEPS_PER_EPOCH and results["num_documents"] == NUM_TEST
    # Recompute accuracy and the attention share from the saved folder.
    model = AutoModelForSequenceClassification.from_pretrained(output_dir)
    assert type(model) is HanForSequenceClassification
    classifier = pipeline("text-classification", model=str(output_dir))
    test = generate_deciding_sentence_documents(NUM_TRAIN, 4, NUM_TEST)["test"]
    predictions = [classifier(text)[0]["label"] for text in test["text"]]
    truth = [model.config.id2label[label] for label in test["label"]]
    assert results["accuracy"] == pytest.approx(100 * sum(p == t for p, t in zip(predictions, truth, strict=True)) / NUM_TEST)
    shares = []
    for text, deciding in zip(test["text"], test["deciding_sentences"], strict=True):
        with torch.no_grad():
            sentence_attention = model(**classifier.tokenizer(text, return_tensors="pt"), output_attentions=True).attentions[1][0]
        assert len(sentence_attention) == len(text.split(". ")) or len(sentence_attention) == text.count(".")
        shares.append(float(sentence_attention[deciding].sum()))
    assert results["deciding_sentence_attention"] == pytest.approx(100 * sum(shares) / len(shares), abs=1e-4)
    assert len(classifier(test["text"][0], top_k=None)) == 4
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.pipeline_tag == "text-classification" and card.data.datasets == ["deciding-sentences"]
    names = {result.metric_name: result.metric_value for result in card.data.eval_results}
    assert names["accuracy"] == round(results["accuracy"], 2)
    assert "MEASURED_ROWS" not in card.text and "Hierarchical Attention" in card.text
    for k in range(2):
        assert "<span" in (output_dir / f"attention_{k}.html").read_text() and (output_dir / f"attention_{k}.png").stat().st_size > 0


def test_baselines_train(run_text_classification, tmp_path):
    for preset in ("flat-gru", "mean-pooling"):
        results = run_text_classification.main([*COMMON, "--preset", preset, "--max_train_steps", "2", "--output_dir", str(tmp_path / preset)])
        assert "deciding_sentence_attention" not in results and results["completed_steps"] == 2
        assert not list((tmp_path / preset).glob("attention_*"))


def test_resume_continues_without_losing_work(run_text_classification, tmp_path):
    args = [*COMMON[:-1], TINY + ",dropout=0.3", "--lr_scheduler_type", "constant", "--num_attention_figures", "0", "--max_eval_samples", "4"]
    assert 2 < STEPS_PER_EPOCH < 5
    uninterrupted = tmp_path / "uninterrupted"
    run_text_classification.main([*args, "--output_dir", str(uninterrupted), "--max_train_steps", "5"])
    interrupted = tmp_path / "interrupted"
    run_text_classification.main([*args, "--output_dir", str(interrupted), "--checkpointing_steps", "2", "--max_train_steps", "2"])
    partial = interrupted / "checkpoints" / "step_4.partial"
    shutil.copytree(interrupted / "checkpoints" / "step_2", partial)
    (partial / "done").unlink()
    resumed = run_text_classification.main([*args, "--output_dir", str(interrupted), "--max_train_steps", "5", "--resume_from_checkpoint", "latest"])
    assert resumed["completed_steps"] == 5
    actual, expected = load_file(interrupted / "model.safetensors"), load_file(uninterrupted / "model.safetensors")
    assert all(torch.equal(actual[name], expected[name]) for name in expected)


def test_a_released_format_and_word_vectors(run_text_classification, tmp_path):
    """--dataset yelp reads Zhang et al.'s CSV folder (escaped newlines become sentence breaks);
    --word_vectors fills the embedding rows of the words it has."""
    folder = tmp_path / "yelp_review_full_csv"
    folder.mkdir()
    rows = ['"5","Great food.\\nLovely staff!"', '"1","Cold soup. Rude waiter."', '"4","Nice view."', '"2","Too loud.\\nSlow."']
    (folder / "train.csv").write_text("\n".join(rows * 3) + "\n", encoding="utf-8")
    (folder / "test.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("food " + " ".join(["0.5"] * 8) + "\n", encoding="utf-8")
    output_dir = tmp_path / "yelp"
    results = run_text_classification.main([*COMMON, "--dataset", "yelp", "--data_path", str(folder), "--max_train_steps", "1",
                                            "--learning_rate", "0", "--word_vectors", str(vectors), "--output_dir", str(output_dir),
                                            "--num_attention_figures", "1"])
    assert results["num_documents"] == 4
    model = AutoModelForSequenceClassification.from_pretrained(output_dir)
    assert model.config.id2label == {0: "1", 1: "2", 2: "3", 3: "4", 4: "5"}
    tokenizer = pipeline("text-classification", model=str(output_dir)).tokenizer
    assert torch.equal(model.get_input_embeddings().weight[tokenizer.convert_tokens_to_ids("food")], torch.full((8,), 0.5))
    assert tokenizer.convert_ids_to_tokens(tokenizer("Great food.\nLovely staff!")["input_ids"]) == ["great", "food", ".", "¶", "lovely", "staff", "!"]
    assert json.loads((output_dir / "eval_results.json").read_text())["split"] == "test"

"""Tests of examples/translation/run_translation.py: end to end on the generated number words
(train, beam-search BLEU recomputed from the saved folder through the restored pipeline, card,
translations file, alignment figures), exact resume from a checkpoint, the Multi30k and Tatoeba
formats and the BPE vocabularies."""

import csv
import importlib.util
import math
import shutil
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from transformers import AutoModelForSeq2SeqLM, pipeline

import hf_mmattn  # noqa: F401
from hf_mmattn import BahdanauForConditionalGeneration
from hf_mmattn.data import generate_number_translation
from hf_mmattn.tasks.translation.metrics import compute_translation_metrics

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "translation" / "run_translation.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "translation"
NUM_TRAIN, NUM_TEST, TRAIN_BATCH = 40, 6, 16
TINY = "embedding_size=8,encoder_hidden_size=6,hidden_size=8,attention_size=8,maxout_size=4"
COMMON = ["--model_type", "bahdanau", "--num_train_sentences", str(NUM_TRAIN), "--num_validation_sentences", "4", "--num_test_sentences",
          str(NUM_TEST), "--per_device_train_batch_size", str(TRAIN_BATCH), "--seed", "0", "--config_overrides", TINY, "--max_new_tokens", "12"]
STEPS_PER_EPOCH = math.ceil(NUM_TRAIN / TRAIN_BATCH)


@pytest.fixture(scope="module")
def run_translation():
    spec = importlib.util.spec_from_file_location("run_translation_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_evaluate_save(run_translation, tmp_path):
    output_dir = tmp_path / "bahdanau"
    results = run_translation.main([*COMMON, "--num_train_epochs", "2", "--num_beams", "3", "--num_alignment_figures", "2",
                                    "--learning_rate", "1e-2", "--output_dir", str(output_dir)])
    assert results["completed_steps"] == 2 * STEPS_PER_EPOCH and results["num_sentences"] == NUM_TEST
    assert type(AutoModelForSeq2SeqLM.from_pretrained(output_dir)) is BahdanauForConditionalGeneration
    # The saved folder translates the test split through the restored pipeline as the evaluation did.
    translator = pipeline("translation_en_to_de", model=str(output_dir))
    test = generate_number_translation(NUM_TRAIN, 4, NUM_TEST)["test"]
    translations = [translator(source, num_beams=3, max_new_tokens=12)[0]["translation_text"] for source in test["source"]]
    recomputed = compute_translation_metrics(translations, [[target] for target in test["target"]])
    assert results["bleu"] == pytest.approx(recomputed["bleu"]) and results["chrf"] == pytest.approx(recomputed["chrf"])
    assert sum(bucket["count"] for bucket in results["bleu_by_source_length"]) == NUM_TEST
    with open(output_dir / "translations.tsv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    assert [row["translation"] for row in rows] == translations and [row["source"] for row in rows] == list(test["source"])
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.pipeline_tag == "translation" and card.data.datasets == ["number-words-en-de"]
    names = {result.metric_name: result.metric_value for result in card.data.eval_results}
    assert names["sacreBLEU"] == round(results["bleu"], 2)
    assert "MEASURED_ROWS" not in card.text and "Jointly Learning to Align" in card.text
    for k in range(2):
        assert (output_dir / f"alignment_{k}.png").stat().st_size > 0


def test_the_no_attention_baseline_trains_and_draws_no_alignment(run_translation, tmp_path):
    results = run_translation.main([*COMMON[:-3], TINY + ",attention=none", "--max_new_tokens", "12", "--max_train_steps", "2",
                                    "--output_dir", str(tmp_path / "rnnencdec")])
    assert results["completed_steps"] == 2 and not list((tmp_path / "rnnencdec").glob("alignment_*"))


def test_resume_continues_without_losing_work(run_translation, tmp_path):
    args = [*COMMON[:-3], TINY + ",dropout=0.3", "--max_new_tokens", "12", "--lr_scheduler_type", "constant", "--num_alignment_figures", "0",
            "--max_eval_samples", "2", "--num_beams", "1"]
    assert 2 < STEPS_PER_EPOCH < 5
    uninterrupted = tmp_path / "uninterrupted"
    run_translation.main([*args, "--output_dir", str(uninterrupted), "--max_train_steps", "5"])
    interrupted = tmp_path / "interrupted"
    run_translation.main([*args, "--output_dir", str(interrupted), "--checkpointing_steps", "2", "--max_train_steps", "2"])
    partial = interrupted / "checkpoints" / "step_4.partial"
    shutil.copytree(interrupted / "checkpoints" / "step_2", partial)
    (partial / "done").unlink()
    resumed = run_translation.main([*args, "--output_dir", str(interrupted), "--max_train_steps", "5", "--resume_from_checkpoint", "latest"])
    assert resumed["completed_steps"] == 5
    actual, expected = load_file(interrupted / "model.safetensors"), load_file(uninterrupted / "model.safetensors")
    assert expected and all(torch.equal(actual[name], expected[name]) for name in expected)


def test_multi30k_and_tatoeba_files_with_bpe(run_translation, tmp_path):
    results = run_translation.main(["--model_type", "luong", "--config_overrides", "embedding_size=8,hidden_size=8,num_layers=1",
                                    "--dataset", "multi30k", "--data_path", str(FIXTURES / "multi30k"), "--max_train_steps", "1",
                                    "--tokenizer", "bpe", "--vocab_size", "60", "--max_new_tokens", "5", "--num_beams", "2",
                                    "--output_dir", str(tmp_path / "multi30k")])
    assert results["num_sentences"] == 3 and results["split"] == "test"
    processor = pipeline("translation", model=str(tmp_path / "multi30k")).processor
    assert type(processor.tokenizer.backend_tokenizer.model).__name__ == "BPE"
    pairs = tmp_path / "deu.txt"
    pairs.write_text("".join(f"Word {k}.\tWort {k}.\tCC-BY 2.0 (France) Attribution: tatoeba.org\n" for k in range(12)), encoding="utf-8")
    results = run_translation.main(["--model_type", "luong", "--config_overrides", "embedding_size=8,hidden_size=8,num_layers=1",
                                    "--dataset", "tatoeba", "--data_path", str(pairs), "--num_held_out", "3", "--max_train_steps", "1",
                                    "--max_new_tokens", "5", "--output_dir", str(tmp_path / "tatoeba")])
    assert results["num_sentences"] == 3
    with pytest.raises(ValueError, match="too few to hold out"):
        run_translation.main(["--model_type", "luong", "--dataset", "tatoeba", "--data_path", str(pairs), "--num_held_out", "6",
                              "--output_dir", str(tmp_path / "too_few")])

"""The translation processor (two vocabularies, word-level or BPE) and the restored
``translation`` pipeline on a saved folder."""

from __future__ import annotations

import logging

import pytest
import torch
import transformers.pipelines as transformers_pipelines
from transformers import AutoModelForSeq2SeqLM, AutoProcessor, AutoTokenizer, pipeline

import hf_mmattn  # noqa: F401  (registers the models and the pipeline)
from hf_mmattn import BahdanauConfig, BahdanauForConditionalGeneration, LuongConfig, LuongForConditionalGeneration, TranslationProcessor

SOURCES = ["one two three", "four five", "two one", "three three four"]
TARGETS = ["eins zwei drei", "vier fünf", "zwei eins", "drei drei vier"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny Luong translator (en → de) with its word-level processor, saved."""
    folder = tmp_path_factory.mktemp("luong")
    processor = TranslationProcessor.from_texts(SOURCES, TARGETS)
    torch.manual_seed(0)
    config = LuongConfig.from_preset(
        "tiny", source_vocab_size=len(processor.tokenizer), vocab_size=len(processor.target_tokenizer), source_language="en",
        target_language="de",
    )
    model = LuongForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder, model, processor


def test_word_level_processor_ids_labels_and_decoding():
    processor = TranslationProcessor.from_texts(SOURCES, TARGETS)
    vocab = processor.tokenizer.get_vocab()
    assert [vocab[token] for token in ("<pad>", "<unk>", "<s>", "</s>")] == [0, 1, 2, 3]
    encoded = processor(text=SOURCES[:2], text_target=TARGETS[:2])
    assert encoded["input_ids"][0].tolist() == [vocab["one"], vocab["two"], vocab["three"], 3]
    assert encoded["input_ids"][1].tolist() == [vocab["four"], vocab["five"], 3, 0]
    assert encoded["attention_mask"][1].tolist() == [1, 1, 1, 0]
    target_vocab = processor.target_tokenizer.get_vocab()
    assert encoded["labels"][1].tolist() == [target_vocab["vier"], target_vocab["fünf"], 3, -100]
    assert processor.batch_decode(encoded["labels"].clamp(min=0)) == TARGETS[:2]


def test_bpe_processor_round_trips_text_and_has_no_unknown_words():
    processor = TranslationProcessor.from_texts(SOURCES * 5, TARGETS * 5, kind="bpe", vocab_size=40)
    ids = processor(text_target=TARGETS)["labels"].clamp(min=0)
    assert processor.batch_decode(ids) == TARGETS
    assert processor.source_unknown_words("two four one") == []
    assert processor.source_unknown_words("two x one") == ["x"]


def test_processor_refuses_empty_and_over_long_sentences_and_logs_unknown_words(caplog):
    processor = TranslationProcessor.from_texts(SOURCES, TARGETS, max_length=4)
    with pytest.raises(ValueError, match="empty source sentence"):
        processor(text=["one", "  "])
    with pytest.raises(ValueError, match="more than the tokenizer's limit of 4: pass truncation=True"):
        processor(text="one two three four five")
    truncated = processor(text="one two three four five", truncation=True)
    assert truncated["input_ids"].shape[1] == 4 and truncated["input_ids"][0, -1].item() == 3
    with caplog.at_level(logging.WARNING):
        encoded = processor(text="one seven two")
    assert "seven" in caplog.text and encoded["input_ids"][0, 1].item() == processor.tokenizer.unk_token_id
    with pytest.raises(TypeError, match="must be a string"):
        processor(text=["one", 2])
    with pytest.raises(ValueError, match="return_tensors must be 'pt'"):
        processor(text="one", return_tensors="np")


def test_processor_and_model_load_through_the_auto_classes(saved):
    folder, model, processor = saved
    loaded_processor = AutoProcessor.from_pretrained(folder)
    assert isinstance(loaded_processor, TranslationProcessor)
    assert loaded_processor.tokenizer.get_vocab() == processor.tokenizer.get_vocab()
    assert loaded_processor.target_tokenizer.get_vocab() == processor.target_tokenizer.get_vocab()
    assert AutoTokenizer.from_pretrained(folder).get_vocab() == processor.tokenizer.get_vocab()  # the source side
    loaded = AutoModelForSeq2SeqLM.from_pretrained(folder)
    assert type(loaded) is LuongForConditionalGeneration
    inputs = loaded_processor(text=SOURCES)
    assert torch.equal(loaded.generate(**inputs, num_beams=3), model.generate(**inputs, num_beams=3))


def test_the_translation_pipeline_translates_like_generate(saved):
    folder, model, processor = saved
    translator = pipeline("translation", model=str(folder))
    expected = processor.batch_decode(model.generate(**processor(text=SOURCES), num_beams=3))
    one = translator(SOURCES[0], num_beams=3)
    assert one == [{"translation_text": expected[0]}]
    assert translator(SOURCES, num_beams=3) == [{"translation_text": text} for text in expected]
    ids = translator(SOURCES[1], return_tensors=True, return_text=False, max_new_tokens=4)[0]["translation_token_ids"]
    assert torch.equal(ids, model.generate(**processor(text=SOURCES[1]), max_new_tokens=4)[0])
    several = translator(SOURCES[:2], num_beams=3, num_return_sequences=2)
    assert len(several) == 2 and all(len(results) == 2 for results in several)


def test_the_pipeline_reads_languages_from_its_task_name(saved):
    folder, *_ = saved
    assert pipeline("translation_en_to_de", model=str(folder))(SOURCES[0])[0]["translation_text"] is not None
    with pytest.raises(ValueError, match="translates en to de; asked for fr to de"):
        pipeline("translation_fr_to_de", model=str(folder))(SOURCES[0])
    assert "translation" not in transformers_pipelines.REMOVED_TASKS


def test_the_pipeline_returns_the_alignment_of_the_translation(saved):
    folder, model, processor = saved
    translator = pipeline("translation", model=str(folder))
    for settings in ({}, {"num_beams": 3}):
        result = translator(SOURCES[0], return_alignment=True, max_new_tokens=5, **settings)[0]
        ids = model.generate(**processor(text=SOURCES[0]), max_new_tokens=5, **settings)
        with torch.no_grad():
            forced = model(**processor(text=SOURCES[0]), decoder_input_ids=ids[:, :-1], output_attentions=True)
        assert result["source_tokens"] == ["one", "two", "three", "</s>"]
        assert result["target_tokens"] == processor.target_tokenizer.convert_ids_to_tokens(ids[0, 1:].tolist())
        torch.testing.assert_close(torch.from_numpy(result["alignment"]), forced.cross_attentions[0][0], rtol=1e-5, atol=1e-6)


def test_the_pipeline_refuses_bad_calls(saved):
    folder, *_ = saved
    translator = pipeline("translation", model=str(folder))
    with pytest.raises(ValueError, match="empty sentence"):
        translator("   ")
    with pytest.raises(TypeError, match="did you mean 'num_beams'"):
        translator(SOURCES[0], num_beam=3)
    with pytest.raises(ValueError, match="max_new_tokens must be an integer >= 1"):
        translator(SOURCES[0], max_new_tokens=0)
    with pytest.raises(TypeError, match="non-empty list of sentences"):
        translator([])
    with pytest.raises(TypeError, match="must be a string"):
        translator(["one", 3])
    with pytest.raises(TypeError, match="return_alignment must be True or False"):
        translator(SOURCES[0], return_alignment="yes")


def test_a_model_without_attention_says_it_has_no_alignment(tmp_path):
    processor = TranslationProcessor.from_texts(SOURCES, TARGETS)
    config = BahdanauConfig.from_preset(
        "tiny", attention="none", source_vocab_size=len(processor.tokenizer), vocab_size=len(processor.target_tokenizer)
    )
    BahdanauForConditionalGeneration(config).save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="has no attention"):
        pipeline("translation", model=str(tmp_path))(SOURCES[0], return_alignment=True)


def test_the_beam_alignment_follows_a_translation_that_ends_before_the_search(tmp_path):
    """Beam search runs on while other beams may still beat a finished translation: the
    returned translation is then shorter than the search, and its alignment is its own rows."""
    processor = TranslationProcessor.from_texts(SOURCES, TARGETS)
    shorter = 0
    for seed in range(12):
        torch.manual_seed(seed)
        config = LuongConfig.from_preset("tiny", source_vocab_size=len(processor.tokenizer), vocab_size=len(processor.target_tokenizer))
        model = LuongForConditionalGeneration(config).eval()
        with torch.no_grad():
            model.word_classifier.bias[3] += 2.0  # </s> likely: translations end at different steps
        folder = tmp_path / str(seed)
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        encoded = processor(text=SOURCES[0])
        search = model.generate(**encoded, num_beams=3, max_new_tokens=8, output_attentions=True, return_dict_in_generate=True)
        shorter += len(search.cross_attentions) > search.sequences.shape[1] - 1
        result = pipeline("translation", model=str(folder))(SOURCES[0], num_beams=3, max_new_tokens=8, return_alignment=True)[0]
        with torch.no_grad():
            forced = model(**encoded, decoder_input_ids=search.sequences[:1, :-1], output_attentions=True)
        torch.testing.assert_close(torch.from_numpy(result["alignment"]), forced.cross_attentions[0][0], rtol=1e-5, atol=1e-6)
    assert shorter > 0


def test_batches_give_what_single_sentences_give(saved):
    folder, model, processor = saved
    translator = pipeline("translation", model=str(folder))
    settings = dict(max_new_tokens=5, return_tensors=True, return_alignment=True, num_beams=2, num_return_sequences=2)
    one_by_one = [translator(source, **settings) for source in SOURCES]
    batched = translator(SOURCES, batch_size=3, **settings)
    for single, in_batch in zip(one_by_one, batched, strict=True):
        assert len(single) == len(in_batch) == 2
        for expected, actual in zip(single, in_batch, strict=True):
            assert expected["target_tokens"] == actual["target_tokens"] and expected["source_tokens"] == actual["source_tokens"]
            torch.testing.assert_close(torch.from_numpy(actual["alignment"]), torch.from_numpy(expected["alignment"]), rtol=1e-5, atol=1e-6)


def test_other_seq2seq_models_are_served_with_their_tokenizer(tmp_path):
    """A transformers seq2seq model with a tokenizer and no processor (as Marian or T5 checkpoints)
    is served as transformers 4's translation pipeline served it: its tokenizer for both sides."""
    from transformers import BartConfig, BartForConditionalGeneration

    from hf_mmattn.tasks.translation.processing import build_translation_tokenizer

    tokenizer = build_translation_tokenizer(SOURCES + TARGETS)
    config = BartConfig(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=16, decoder_ffn_dim=16, max_position_embeddings=32, pad_token_id=0,
                        bos_token_id=2, eos_token_id=3, decoder_start_token_id=2, forced_eos_token_id=None)
    torch.manual_seed(0)
    model = BartForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.final_logits_bias[0, tokenizer.convert_tokens_to_ids("eins")] = 10.0
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    result = pipeline("translation", model=str(tmp_path))("one two", max_new_tokens=3, return_tensors=True)[0]
    expected = model.generate(**tokenizer("one two", return_tensors="pt"), max_new_tokens=3)[0]
    assert torch.equal(result["translation_token_ids"], expected) and result["translation_text"] == "eins eins eins"

"""Converter of OpenNMT-py 3.x RNN translators, on fake checkpoints in OpenNMT-py's layout (key names,
shapes, vocabulary and option layout written out by hand from OpenNMT-py 3.5's model_builder, RNNEncoder,
InputFeedRNNDecoder / StackedLSTM, GlobalAttention and ModelSaver; OpenNMT-py is not imported).
benchmarks/compare_opennmt_reference.py compares with the real OpenNMT-py."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoProcessor

import hf_mmattn  # noqa: F401  (registers the Auto classes)
from hf_mmattn.convert import main as convert_main
from hf_mmattn.models.luong.convert_luong import (
    convert_checkpoint,
    convert_state_dict,
    load_onmt_checkpoint,
    onmt_tokenizer,
    read_options,
)

SPECIALS = ["<unk>", "<blank>", "<s>", "</s>"]
SOURCE = SPECIALS + ["the", "cat", "sat", "on", "mat", "&apos;s", "Big", "dog"]
TARGET = SPECIALS + ["die", "Katze", "sass", "auf", "der", "Matte", "Hund"]
EMBED, HIDDEN = 5, 6


def lstm_shapes(prefix: str, suffix: str, input_size: int, hidden: int) -> dict[str, tuple[int, ...]]:
    return {
        f"{prefix}weight_ih{suffix}": (4 * hidden, input_size),
        f"{prefix}weight_hh{suffix}": (4 * hidden, hidden),
        f"{prefix}bias_ih{suffix}": (4 * hidden,),
        f"{prefix}bias_hh{suffix}": (4 * hidden,),
    }


def onmt_model_state(layers=2, bidirectional=True, attention="general", input_feed=True, seed=0):
    """``(checkpoint["model"], checkpoint["generator"])`` with OpenNMT-py's names and shapes, uniform
    random values (its -param_init)."""
    shapes = {"encoder.embeddings.make_embedding.emb_luts.0.weight": (len(SOURCE), EMBED)}
    per_direction = HIDDEN // 2 if bidirectional else HIDDEN
    for layer in range(layers):
        for suffix in ("", "_reverse") if bidirectional else ("",):
            shapes |= lstm_shapes("encoder.rnn.", f"_l{layer}{suffix}", EMBED if layer == 0 else HIDDEN, per_direction)
    shapes["decoder.embeddings.make_embedding.emb_luts.0.weight"] = (len(TARGET), EMBED)
    for layer in range(layers):
        input_size = (EMBED + HIDDEN if input_feed else EMBED) if layer == 0 else HIDDEN
        if input_feed:  # StackedLSTM's nn.LSTMCell list
            shapes |= lstm_shapes(f"decoder.rnn.layers.{layer}.", "", input_size, HIDDEN)
        else:  # StdRNNDecoder's nn.LSTM
            shapes |= lstm_shapes("decoder.rnn.", f"_l{layer}", input_size, HIDDEN)
    if attention == "general":
        shapes["decoder.attn.linear_in.weight"] = (HIDDEN, HIDDEN)
    if attention != "none":
        shapes["decoder.attn.linear_out.weight"] = (HIDDEN, 2 * HIDDEN)
    generator = torch.Generator().manual_seed(seed)

    def uniform(shape):
        return (torch.rand(shape, generator=generator) - 0.5) * 1.6

    generator_state = {"weight": uniform((len(TARGET), HIDDEN)), "bias": uniform((len(TARGET),))}
    return {key: uniform(shape) for key, shape in shapes.items()}, generator_state


def onmt_options(layers=2, bidirectional=True, attention="general", input_feed=True, **changes) -> argparse.Namespace:
    """The options' Namespace as onmt_train saves it (after update_model_opts), the fields read."""
    options = dict(
        model_task="seq2seq", model_type="text", encoder_type="brnn" if bidirectional else "rnn", decoder_type="rnn", rnn_type="LSTM",
        layers=layers, enc_layers=layers, dec_layers=layers, hidden_size=HIDDEN, enc_hid_size=HIDDEN, dec_hid_size=HIDDEN,
        word_vec_size=EMBED, src_word_vec_size=EMBED, tgt_word_vec_size=EMBED, brnn=bidirectional, global_attention=attention,
        global_attention_function="softmax", input_feed=int(input_feed), bridge=False, context_gate=None, copy_attn=False,
        reuse_copy_attn=False, coverage_attn=False, position_encoding=False, n_src_feats=0, dropout=[0.3], attention_dropout=[0.1],
        share_embeddings=False, share_decoder_embeddings=False, default_specials=SPECIALS, _all_transform=set(), data={},
    )
    return argparse.Namespace(**{**options, **changes})


def onmt_checkpoint(layers=2, bidirectional=True, attention="general", input_feed=True, seed=0, **option_changes) -> dict:
    """What ModelSaver._save writes."""
    model, generator = onmt_model_state(layers, bidirectional, attention, input_feed, seed)
    return {
        "model": model,
        "generator": generator,
        "vocab": {"src": list(SOURCE), "tgt": list(TARGET), "data_task": "seq2seq", "decoder_start_token": "<s>"},
        "opt": onmt_options(layers, bidirectional, attention, input_feed, **option_changes),
        "optim": {"training_step": 1001, "decay_step": 1001, "optimizer": {"state": {}, "param_groups": [{"lr": 1, "betas": (0.9, 0.9)}]}},
    }


# --- OpenNMT-py's equations, written out ----------------------------------------------------------


def lstm_cell(x, h, c, state, prefix, suffix=""):
    """nn.LSTMCell / one nn.LSTM step: gates packed i, f, g, o."""
    gates = x @ state[f"{prefix}weight_ih{suffix}"].T + state[f"{prefix}bias_ih{suffix}"] + h @ state[f"{prefix}weight_hh{suffix}"].T
    i, f, g, o = (gates + state[f"{prefix}bias_hh{suffix}"]).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def onmt_encode(state, source_ids: list[int], layers: int, bidirectional: bool):
    """RNNEncoder on ONE unpadded sentence (what packing computes) and _fix_enc_hidden: the top
    layer's outputs (words, hidden) and every layer's final (h, c), directions concatenated."""
    x = state["encoder.embeddings.make_embedding.emb_luts.0.weight"][source_ids]
    size = HIDDEN // 2 if bidirectional else HIDDEN
    final_h, final_c = [], []
    for layer in range(layers):
        outputs, finals = [], []
        for suffix, order in (("", range(len(source_ids))), ("_reverse", reversed(range(len(source_ids))))):
            if suffix and not bidirectional:
                continue
            h = c = x.new_zeros(size)
            steps = {}
            for t in order:
                h, c = lstm_cell(x[t], h, c, state, "encoder.rnn.", f"_l{layer}{suffix}")
                steps[t] = h
            outputs.append(torch.stack([steps[t] for t in range(len(source_ids))]))
            finals.append((h, c))
        x = torch.cat(outputs, dim=-1)
        final_h.append(torch.cat([h for h, _ in finals]))
        final_c.append(torch.cat([c for _, c in finals]))
    return x, torch.stack(final_h), torch.stack(final_c)


def onmt_decode(state, generator, annotations, h, c, target_inputs: list[int], layers: int, attention: str, input_feed: bool):
    """InputFeedRNNDecoder (or StdRNNDecoder) + GlobalAttention + generator, teacher-forced, at
    inference (no dropout): the logits of every step."""
    h, c = list(h), list(c)
    feed = annotations.new_zeros(HIDDEN)
    logits = []
    for word in target_inputs:
        x = state["decoder.embeddings.make_embedding.emb_luts.0.weight"][word]
        if input_feed:
            x = torch.cat([x, feed])
        for layer in range(layers):
            prefix, suffix = (f"decoder.rnn.layers.{layer}.", "") if input_feed else ("decoder.rnn.", f"_l{layer}")
            h[layer], c[layer] = lstm_cell(x, h[layer], c[layer], state, prefix, suffix)
            x = h[layer]
        if attention == "none":
            attentional = x
        else:
            query = x @ state["decoder.attn.linear_in.weight"].T if attention == "general" else x  # linear_in(h_t)
            weights = torch.softmax(annotations @ query, dim=0)  # only the sentence's own words: padding is -inf
            context = weights @ annotations
            attentional = torch.tanh(torch.cat([context, x]) @ state["decoder.attn.linear_out.weight"].T)
        feed = attentional
        logits.append(attentional @ generator["weight"].T + generator["bias"])
    return torch.stack(logits)


SENTENCES = [("the cat sat on the mat", "die Katze sass auf der Matte"), ("Big dog", "Hund"), ("the &apos;s cat zebra", "die Katze Katze")]
LAYOUTS = [
    dict(layers=2, bidirectional=True, attention="general", input_feed=True),
    dict(layers=1, bidirectional=False, attention="dot", input_feed=True),
    dict(layers=2, bidirectional=False, attention="general", input_feed=False),
    dict(layers=1, bidirectional=True, attention="none", input_feed=False),
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: "-".join(str(value) for value in layout.values()))
def test_converted_model_computes_opennmts_equations(layout):
    checkpoint = onmt_checkpoint(**layout)
    model, processor = convert_checkpoint(checkpoint)
    model = model.double()
    state = {key: value.double() for key, value in checkpoint["model"].items()}
    generator = {key: value.double() for key, value in checkpoint["generator"].items()}
    batch = processor(text=[s for s, _ in SENTENCES], text_target=[t for _, t in SENTENCES])
    with torch.no_grad():
        logits = model(**batch).logits
    for row, (source, target) in enumerate(SENTENCES):
        source_ids = [SOURCE.index(word) if word in SOURCE else 0 for word in source.split(" ")]
        target_inputs = [TARGET.index("<s>")] + [TARGET.index(word) for word in target.split(" ")]  # <s> y, predicting y </s>
        annotations, h, c = onmt_encode(state, source_ids, layout["layers"], layout["bidirectional"])
        expected = onmt_decode(
            state, generator, annotations, h, c, target_inputs, layout["layers"], layout["attention"], layout["input_feed"]
        )
        assert batch["input_ids"][row, : len(source_ids)].tolist() == source_ids
        torch.testing.assert_close(logits[row, : len(target_inputs)], expected, atol=1e-10, rtol=1e-10)


def test_every_tensor_maps_once_and_linear_in_is_transposed():
    model, generator = onmt_model_state()
    converted = convert_state_dict(model, generator, num_layers=2, bidirectional=True, attention="general", input_feeding=True)
    assert len(converted) == len(model) + len(generator)
    projection, linear_in = converted["decoder.attention.projection.weight"], model["decoder.attn.linear_in.weight"]
    assert torch.equal(projection, linear_in.T) and not torch.equal(projection, linear_in)
    assert torch.equal(converted["decoder.attentional_layer.weight"], model["decoder.attn.linear_out.weight"])
    assert torch.equal(converted["decoder.rnn.weight_ih_l1"], model["decoder.rnn.layers.1.weight_ih"])
    assert torch.equal(converted["encoder.rnn.bias_hh_l1_reverse"], model["encoder.rnn.bias_hh_l1_reverse"])
    assert torch.equal(converted["encoder.embedding.weight"], model["encoder.embeddings.make_embedding.emb_luts.0.weight"])
    assert torch.equal(converted["decoder.embedding.weight"], model["decoder.embeddings.make_embedding.emb_luts.0.weight"])
    assert torch.equal(converted["word_classifier.bias"], generator["bias"])
    # A 2.x-style generator (nn.Sequential(Linear, LogSoftmax)) is renamed as OpenNMT-py's load_checkpoint does.
    sequential = {"0.weight": generator["weight"], "0.bias": generator["bias"]}
    renamed = convert_state_dict(model, sequential, num_layers=2, bidirectional=True)
    assert torch.equal(renamed["word_classifier.weight"], generator["weight"])


def test_missing_extra_and_unsupported_tensors_are_refused_by_name():
    model, generator = onmt_model_state()
    layout = dict(num_layers=2, bidirectional=True, attention="general", input_feeding=True)
    without = {key: value for key, value in model.items() if key != "decoder.rnn.layers.1.bias_hh"}
    with pytest.raises(ValueError, match=r"1 missing \['decoder.rnn.layers.1.bias_hh'\], 0 unknown"):
        convert_state_dict(without, generator, **layout)
    extras = {
        "encoder.bridge.0.weight": "-bridge",
        "decoder.attn.linear_cover.weight": "-coverage_attn",
        "decoder.context_gate.gate.weight": "-context_gate",
        "decoder.attn.linear_query.weight": "-global_attention mlp",
        "encoder.embeddings.make_embedding.pe.pe": "-position_encoding",
        "encoder.embeddings.make_embedding.emb_luts.1.weight": "source features",
        "decoder.rnn.layers.0.weight_ih.lora_A": "-lora_layers",
    }
    for key, option in extras.items():
        with pytest.raises(ValueError, match=rf"1 unknown \['{key}\s\({option}"):
            convert_state_dict({**model, key: torch.zeros(1)}, generator, **layout)
    with pytest.raises(ValueError, match=r"generator.linear_copy.weight \(-copy_attn\)"):
        convert_state_dict(model, {**generator, "linear_copy.weight": torch.zeros(1)}, **layout)
    with pytest.raises(ValueError, match=r"given both in the model and in the generator state dicts: \['generator.bias'\]"):
        convert_state_dict({**model, "generator.bias": generator["bias"]}, generator, **layout)
    # The options say one layer and a unidirectional encoder: the second layer and the reverse direction are unknown.
    with pytest.raises(ValueError, match=r"\(1 layer\(s\), rnn encoder.*\): 0 missing \[\], 16 unknown .*'encoder.rnn.bias_hh_l0_reverse'"):
        convert_state_dict(model, generator, num_layers=1, bidirectional=False)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(rnn_type="GRU"), "-rnn_type GRU"),
        (dict(encoder_type="transformer"), "-encoder_type transformer"),
        (dict(decoder_type="cnn"), "-decoder_type cnn"),
        (dict(global_attention="mlp"), "-global_attention mlp: OpenNMT's mlp score"),
        (dict(global_attention_function="sparsemax"), "-global_attention_function sparsemax"),
        (dict(bridge=True), "-bridge"),
        (dict(copy_attn=True), "-copy_attn"),
        (dict(coverage_attn=True), "-coverage_attn"),
        (dict(context_gate="both"), "-context_gate both"),
        (dict(position_encoding=True), "-position_encoding"),
        (dict(n_src_feats=2), "-n_src_feats 2"),
        (dict(lora_layers=["linear_values"]), "-lora_layers"),
        (dict(global_attention="none", input_feed=1), "input feeding needs an attention"),
        (dict(layers=-1, enc_layers=2, dec_layers=1), "-enc_layers 2 with -dec_layers 1"),
        (dict(word_vec_size=-1, src_word_vec_size=5, tgt_word_vec_size=8), "-src_word_vec_size 5 with -tgt_word_vec_size 8"),
        (dict(model_task="lm"), "-model_task lm"),
    ],
)
def test_unsupported_options_are_refused_by_name(changes, message):
    with pytest.raises(ValueError, match="options the Luong model does not have: .*" + message.replace("(", r"\(")):
        convert_checkpoint(onmt_checkpoint(**changes))


def test_options_follow_opennmts_precedence_and_defaults():
    # -layers / -hidden_size / -word_vec_size override the per-side values (ArgumentParser.update_model_opts).
    options = read_options(onmt_options(layers=1, enc_layers=3, dec_layers=2, bidirectional=False))
    assert options == dict(num_layers=1, bidirectional=False, attention="general", input_feeding=True, dropout=0.3)
    # Options a checkpoint lacks take OpenNMT-py's defaults (rnn encoder, general attention, input feeding).
    assert read_options({"enc_layers": 2, "dec_layers": 2, "dropout": 0.1}) == dict(
        num_layers=2, bidirectional=False, attention="general", input_feeding=True, dropout=0.1
    )


def test_config_and_tokenizers_keep_opennmts_vocabularies_and_ids():
    model, processor = convert_checkpoint(onmt_checkpoint(layers=1, bidirectional=True, attention="dot"))
    config = model.config
    sizes = (config.source_vocab_size, config.vocab_size, config.embedding_size, config.hidden_size)
    assert sizes == (len(SOURCE), len(TARGET), EMBED, HIDDEN)
    assert (config.num_layers, config.encoder_bidirectional, config.attention, config.input_feeding) == (1, True, "dot", True)
    assert (config.source_pad_token_id, config.pad_token_id, config.bos_token_id, config.eos_token_id, config.decoder_start_token_id) == (
        1, 1, 2, 3, 2
    )
    assert config.dropout == 0.3 and not model.training
    generation = model.generation_config
    assert (generation.num_beams, generation.length_penalty, generation.max_new_tokens) == (5, 0.0, 250)
    source, target = processor.tokenizer, processor.target_tokenizer
    assert source.get_vocab() == {token: index for index, token in enumerate(SOURCE)}
    assert target.get_vocab() == {token: index for index, token in enumerate(TARGET)}
    # Split on whitespace only, case kept, unknown words <unk> (0); no </s> on the source, </s> ends the target.
    assert source("the &apos;s  Big DOG")["input_ids"] == [4, 9, 10, 0]
    assert target("die Hund")["input_ids"] == [4, 10, 3]
    assert (target.pad_token, target.unk_token, target.bos_token, target.eos_token) == ("<blank>", "<unk>", "<s>", "</s>")
    assert processor.batch_decode([[2, 5, 6, 3, 1]]) == ["Katze sass"]

    assert onmt_tokenizer(["<unk>", "<blank>", "x"], append_eos=False)("x y")["input_ids"] == [2, 0]


def test_vocabularies_that_do_not_fit_are_refused():
    checkpoint = onmt_checkpoint()
    for vocab, message in [
        ({**checkpoint["vocab"], "tgt": TARGET[:-1]}, "the target vocabulary has 10 tokens but its embedding has 11 rows"),
        ({**checkpoint["vocab"], "src": SOURCE[:-1] + ["cat"]}, r"the src vocabulary lists tokens twice: \['cat'\]"),
        ({**checkpoint["vocab"], "tgt": ["<x>"] + TARGET[1:]}, r"the tgt vocabulary lacks OpenNMT-py's special tokens \['<unk>'\]"),
        ({**checkpoint["vocab"], "decoder_start_token": "<go>"}, r"lacks OpenNMT-py's special tokens \['<go>'\]"),
        ({**checkpoint["vocab"], "src_feats": [["<unk>"]]}, "source feature vocabularies"),
        ([("src", None)], "not OpenNMT-py 3.x's"),
    ]:
        with pytest.raises(ValueError, match=message):
            convert_checkpoint({**checkpoint, "vocab": vocab})
    model = dict(checkpoint["model"])
    model["decoder.embeddings.make_embedding.emb_luts.0.weight"] = torch.zeros(len(TARGET), EMBED + 1)
    with pytest.raises(ValueError, match=r"source and target embeddings differ in size \(5 vs 6\)"):
        convert_checkpoint({**checkpoint, "model": model})


class Field:
    """Stands for a class an old checkpoint pickles (torchtext's Field in OpenNMT-py 2.x)."""


def test_safe_loader_allows_only_the_options_namespace(tmp_path):
    checkpoint = onmt_checkpoint()
    torch.save(checkpoint, tmp_path / "model_step_1000.pt")
    loaded = load_onmt_checkpoint(tmp_path / "model_step_1000.pt")
    assert isinstance(loaded["opt"], argparse.Namespace) and loaded["opt"].encoder_type == "brnn"
    assert loaded["model"].keys() == checkpoint["model"].keys()
    assert argparse.Namespace not in torch.serialization.get_safe_globals()  # the allow-list does not outlive the call
    # A caller's own allow-listing survives the call (torch's safe_globals() removes its classes on exit).
    torch.serialization.add_safe_globals([argparse.Namespace])
    try:
        load_onmt_checkpoint(tmp_path / "model_step_1000.pt")
        assert argparse.Namespace in torch.serialization.get_safe_globals()
    finally:
        torch.serialization.clear_safe_globals()

    torch.save({**checkpoint, "vocab": [("src", Field())]}, tmp_path / "v2.pt")
    with pytest.raises(ValueError, match=r"pickles classes other than argparse.Namespace \(.*test_convert_luong.Field\).*2.x"):
        load_onmt_checkpoint(tmp_path / "v2.pt")
    torch.save({key: value for key, value in checkpoint.items() if key not in ("model", "generator")}, tmp_path / "st.pt")
    with pytest.raises(ValueError, match="-save_format safetensors"):
        load_onmt_checkpoint(tmp_path / "st.pt")
    torch.save({"state_dict": checkpoint["model"]}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not an OpenNMT-py checkpoint"):
        load_onmt_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        load_onmt_checkpoint(tmp_path / "absent.pt")


def test_command_line_writes_a_folder_the_auto_classes_load_and_that_translates(tmp_path):
    checkpoint = onmt_checkpoint(layers=1, bidirectional=False, attention="general")
    torch.save(checkpoint, tmp_path / "model_step_1000.pt")
    output = convert_main(["luong", "--checkpoint", str(tmp_path / "model_step_1000.pt"), "--output_dir", str(tmp_path / "out")])
    model = AutoModelForSeq2SeqLM.from_pretrained(output).eval()
    processor = AutoProcessor.from_pretrained(output)
    assert type(model).__name__ == "LuongForConditionalGeneration"
    assert processor.tokenizer.get_vocab()["<blank>"] == 1 and processor.target_tokenizer.get_vocab()["Hund"] == 10
    notes = json.loads((output / "conversion.json").read_text())
    assert notes["training_step"] == 1001 and "linear_in" in notes["transposed"]
    reference, _ = convert_checkpoint(checkpoint)
    batch = processor(text=["the cat sat", "Big dog"])
    with torch.no_grad():
        generated = model.generate(**batch, max_new_tokens=6)
        expected = reference.generate(**batch, max_new_tokens=6)
    assert generated.tolist() == expected.tolist() and generated[:, 0].tolist() == [2, 2]
    assert len(processor.batch_decode(generated)) == 2

"""Convert an OpenNMT-py 3.x RNN translator into an hf-mmattn [`LuongForConditionalGeneration`] folder.

    python -m hf_mmattn.convert luong --checkpoint run/model_step_10000.pt --output_dir out/luong-onmt

Converts the checkpoints of ``onmt_train -encoder_type rnn|brnn -rnn_type LSTM -global_attention
general|dot`` with input feeding (``-input_feed 1``, the default) or without (``-input_feed 0``;
then also ``-global_attention none``), ``-bridge`` off. What OpenNMT-py 3.5 does (paths under
``onmt/``) and how it maps:

* Checkpoint (``models/model_saver.py``): ``torch.save({"model": state dict without the generator,
  "generator": its state dict, "vocab": {"src": [tokens], "tgt": [tokens], "data_task": "seq2seq",
  "decoder_start_token": "<s>"}, "opt": argparse.Namespace, "optim": dict or None})``. The options'
  ``argparse.Namespace`` is the only class pickled, so the file loads with ``torch.load(weights_only=True)``
  allowing that class alone; anything else (2.x checkpoints pickle torchtext Fields) is refused unread.
  Generators saved as ``nn.Sequential`` (``0.weight``/``0.bias``) are renamed as ``load_checkpoint`` does.
* Vocabularies: an id is the token's position in the list; ``-default_specials`` put ``<unk>`` 0,
  ``<blank>`` 1 (padding), ``<s>`` 2, ``</s>`` 3 first. The source is the sentence split on spaces,
  unknown words ``<unk>``, without ``<s>`` or ``</s>`` (``inputters/text_utils.py``); the target is
  ``<s>`` + words + ``</s>``, decoding starts from ``vocab["decoder_start_token"]``. The tokenizers keep
  these ids, split on whitespace and change no case.
* Encoder (``encoders/rnn_encoder.py``): ``encoder.embeddings.make_embedding.emb_luts.0.weight`` →
  ``encoder.embedding.weight``; ``nn.LSTM(batch_first)`` of ``hidden // 2`` units per direction for
  ``brnn``, run packed at the true lengths: ``encoder.rnn.*`` keep their names. The decoder starts from
  every layer's final (h, c), the directions concatenated [forward; backward]
  (``decoders/decoder.py`` ``_fix_enc_hidden``), and h̃_0 = 0.
* Decoder: with input feeding (``InputFeedRNNDecoder``, ``modules/stacked_rnn.py`` ``StackedLSTM``),
  LSTMCells read [embedding; h̃_{t-1}]: ``decoder.rnn.layers.{k}.{weight,bias}_{ih,hh}`` →
  ``decoder.rnn.{weight,bias}_{ih,hh}_l{k}`` (gates i, f, g, o in both); without it
  (``StdRNNDecoder``) an ``nn.LSTM`` with our names. Dropout between layers and on h̃_t (fed back
  after dropout), off at inference.
* Attention (``modules/global_attention.py``): ``general`` scores (linear_in h_t)ᵀ h̄_s = h_tᵀ W h̄_s
  with W = linear_inᵀ, so ``decoder.attn.linear_in.weight`` is TRANSPOSED into
  ``decoder.attention.projection.weight`` (which projects the keys); ``dot`` has no weight. Padded
  source positions are set to -inf before the softmax. h̃_t = tanh(linear_out [c_t; h_t]), no bias:
  ``decoder.attn.linear_out.weight`` → ``decoder.attentional_layer.weight``.
* Generator: ``nn.Linear`` → ``word_classifier``; the translator takes its log-softmax.
* ``onmt_translate`` 3.5 defaults (``opts.py``, ``translate/beam_search.py``): beam 5,
  ``-length_penalty avg -alpha 1`` (score / (generated tokens with ``</s>`` + 1)), no coverage
  penalty, ``-min_length 0``, ``-max_length 250`` capped at 1.25 x padded source length + 5
  (``-max_length_ratio``), no n-gram blocking, ``-ratio 0``. A sentence ends when the best candidate
  of a step is ``</s>``; a candidate ending with ``</s>`` leaves the beam, whose other beam - 1 paths
  continue (transformers keeps ``num_beams`` running paths: the extra one scores below that finished
  hypothesis, so without a length penalty the best translation is the same). The converted model
  generates with ``num_beams=5, length_penalty=0.0`` (= ``-length_penalty none``; ``avg`` divides by
  the generated length + 1, transformers by the generated length, so ``avg`` has no exact
  equivalent) and ``max_new_tokens=250``; ``benchmarks/compare_opennmt_reference.py`` compares both
  with OpenNMT-py.

Refused with the option that produced them: other encoders/decoders, ``-rnn_type`` GRU/SRU,
``-global_attention mlp``, sparsemax attention, ``-bridge``, ``-context_gate``, ``-copy_attn``,
``-coverage_attn``, ``-position_encoding``, source features, LoRA or quantised layers, different
encoder and decoder depths or source and target embedding sizes.
"""

from __future__ import annotations

import argparse
import pickle
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import torch
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

from ...convert import load_converted_state_dict, save_converted_folder
from ...tasks.translation.processing import TranslationProcessor
from .configuration_luong import LuongConfig
from .modeling_luong import LuongForConditionalGeneration

UNK, PAD, BOS, EOS = "<unk>", "<blank>", "<s>", "</s>"  # onmt.constants.DefaultTokens
SAFE_GLOBALS = (argparse.Namespace,)
NUM_BEAMS = 5
MAX_NEW_TOKENS = 250  # onmt_translate -max_length
MAX_SOURCE_TOKENS = 1024
LSTM_PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
SOURCE_EMBEDDING = "encoder.embeddings.make_embedding.emb_luts.0.weight"
TARGET_EMBEDDING = "decoder.embeddings.make_embedding.emb_luts.0.weight"
GENERATOR = "generator."

# The options read, with OpenNMT-py 3.5's defaults (onmt/opts.py) for a checkpoint that lacks one.
OPTION_DEFAULTS = {
    "model_task": "seq2seq", "model_type": "text", "encoder_type": "rnn", "decoder_type": "rnn", "rnn_type": "LSTM",
    "layers": -1, "enc_layers": 2, "dec_layers": 2, "hidden_size": -1, "enc_hid_size": 500, "dec_hid_size": 500,
    "word_vec_size": -1, "src_word_vec_size": 500, "tgt_word_vec_size": 500, "global_attention": "general",
    "global_attention_function": "softmax", "input_feed": 1, "bridge": False, "context_gate": None, "copy_attn": False,
    "coverage_attn": False, "position_encoding": False, "n_src_feats": 0, "lora_layers": [], "lora_embedding": False,
    "quant_layers": [], "dropout": [0.3],
}

# Keys of the features this converter refuses, with the option that adds them.
KEY_ORIGINS = [
    (r"^encoder\.bridge\.", "-bridge"),
    (r"^decoder\.context_gate\.", "-context_gate"),
    (r"^decoder\.copy_attn\.|^generator\.linear(_copy)?\.", "-copy_attn"),
    (r"\.linear_cover\.", "-coverage_attn"),
    (r"^decoder\.attn\.(linear_context|linear_query|v)\.", "-global_attention mlp"),
    (r"\.make_embedding\.pe\.", "-position_encoding"),
    (r"\.make_embedding\.(emb_luts\.[1-9]\d*|mlp)\.", "source features (-n_src_feats, -feat_merge)"),
    (r"lora_[AB]$", "-lora_layers / -lora_embedding"),
    (r"^(encoder|decoder)\.(transformer|transformer_layers|layer_norm|cnn|linear|conv|rnn\.rnn_lst)",
     "-encoder_type/-decoder_type/-rnn_type"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="an OpenNMT-py 3.x checkpoint (model_step_N.pt, as onmt_train saves it)")
    parser.add_argument("--num_beams", type=int, default=NUM_BEAMS, help="the folder's default beam size (onmt_translate -beam_size 5)")
    parser.add_argument("--max_new_tokens", type=int, default=MAX_NEW_TOKENS, help="the folder's default length limit (-max_length)")


def load_onmt_checkpoint(path: str | Path) -> dict:
    """``torch.load(weights_only=True)`` allowing only ``argparse.Namespace`` (the options), the one
    class an OpenNMT-py 3.x checkpoint pickles; a file pickling anything else is refused unread."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    # safe_globals() removes its classes on exit, even those the caller had allowed before: add only the others.
    missing = [cls for cls in SAFE_GLOBALS if cls not in torch.serialization.get_safe_globals()]
    try:
        with torch.serialization.safe_globals(missing):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        try:
            allowed = {f"{cls.__module__}.{cls.__qualname__}" for cls in SAFE_GLOBALS}
            classes = ", ".join(name for name in torch.serialization.get_unsafe_globals_in_checkpoint(path) if name not in allowed) or "?"
        except Exception:
            classes = str(error).splitlines()[0]
        raise ValueError(
            f"{path} pickles classes other than argparse.Namespace ({classes}); an OpenNMT-py 3.x checkpoint pickles "
            "only tensors, plain Python values and its options' argparse.Namespace. Unpickling other classes would run "
            "code from the file, so it is not read. OpenNMT-py 2.x and older checkpoints pickle torchtext objects: load "
            "and re-save the model with OpenNMT-py 3.x first (its tools/convertv2_v3.py), from a file you trust."
        ) from None
    except RuntimeError as error:
        raise ValueError(f"{path} is not a PyTorch checkpoint torch.load can read: {error}") from None
    if not isinstance(checkpoint, dict) or "vocab" not in checkpoint or "opt" not in checkpoint:
        found = sorted(map(str, checkpoint)) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(f"{path} is not an OpenNMT-py checkpoint: expected a dict with 'model', 'generator', 'vocab', 'opt'; got {found}")
    if "model" not in checkpoint:
        raise ValueError(
            f"{path} holds no 'model': its weights were saved apart (-save_format safetensors), which is not supported; "
            "retrain or re-save with the default -save_format pytorch"
        )
    return checkpoint


def _tensors(state, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(state, Mapping) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise ValueError(f"the checkpoint's {what} is not a state dict of tensors")
    return dict(state)


def read_options(opt) -> dict:
    """The architecture options of a checkpoint's ``opt`` (OpenNMT-py's defaults for missing ones,
    ``-layers``/``-hidden_size``/``-word_vec_size`` overriding the per-side values as
    ``ArgumentParser.update_model_opts`` does); an unsupported one is an error naming it."""
    given = vars(opt) if isinstance(opt, argparse.Namespace) else dict(opt)
    options = {name: given.get(name, default) for name, default in OPTION_DEFAULTS.items()}
    for shared, sides in (("layers", ("enc_layers", "dec_layers")), ("hidden_size", ("enc_hid_size", "dec_hid_size")),
                          ("word_vec_size", ("src_word_vec_size", "tgt_word_vec_size"))):
        if options[shared] is not None and options[shared] > 0:
            options.update(dict.fromkeys(sides, options[shared]))
    attention = options["global_attention"] or "none"
    problems = []
    for name, supported in (("model_task", ("seq2seq",)), ("model_type", ("text",)), ("encoder_type", ("rnn", "brnn")),
                            ("decoder_type", ("rnn",)), ("rnn_type", ("LSTM",)), ("global_attention_function", ("softmax",))):
        if options[name] not in supported:
            problems.append(f"-{name} {options[name]} (supported: {', '.join(supported)})")
    if attention not in ("general", "dot", "none"):
        problems.append(f"-global_attention {attention}: OpenNMT's mlp score (biased query, linear_out with a bias and no tanh) "
                        "is not Luong's concat; supported: general, dot")
    if attention == "none" and options["input_feed"]:
        problems.append("-global_attention none with -input_feed 1 (input feeding needs an attention)")
    for name in ("bridge", "copy_attn", "coverage_attn", "position_encoding", "lora_embedding"):
        if options[name]:
            problems.append(f"-{name}")
    for name in ("context_gate", "lora_layers", "quant_layers", "n_src_feats"):
        if options[name]:
            problems.append(f"-{name} {options[name]}")
    if options["enc_layers"] != options["dec_layers"]:
        problems.append(f"-enc_layers {options['enc_layers']} with -dec_layers {options['dec_layers']} (the model has one depth)")
    if options["src_word_vec_size"] != options["tgt_word_vec_size"]:
        problems.append(f"-src_word_vec_size {options['src_word_vec_size']} with -tgt_word_vec_size {options['tgt_word_vec_size']} "
                        "(the model has one embedding size)")
    if problems:
        raise ValueError("this OpenNMT-py checkpoint uses options the Luong model does not have: " + "; ".join(problems))
    dropout = options["dropout"]
    return {
        "num_layers": int(options["enc_layers"]),
        "bidirectional": options["encoder_type"] == "brnn",
        "attention": attention,
        "input_feeding": bool(options["input_feed"]),
        "dropout": float(dropout[0] if isinstance(dropout, (list, tuple)) else dropout),
    }


def key_map(num_layers: int, bidirectional: bool, attention: str, input_feeding: bool) -> dict[str, tuple[str, bool]]:
    """OpenNMT-py key (generator keys under ``generator.``) → (our key, transposed?) for a layout."""
    mapping = {SOURCE_EMBEDDING: ("encoder.embedding.weight", False), TARGET_EMBEDDING: ("decoder.embedding.weight", False)}
    for layer in range(num_layers):
        for parameter in LSTM_PARAMETERS:
            for suffix in ("", "_reverse") if bidirectional else ("",):
                key = f"encoder.rnn.{parameter}_l{layer}{suffix}"
                mapping[key] = (key, False)
            decoder_key = f"decoder.rnn.layers.{layer}.{parameter}" if input_feeding else f"decoder.rnn.{parameter}_l{layer}"
            mapping[decoder_key] = (f"decoder.rnn.{parameter}_l{layer}", False)
    if attention == "general":
        mapping["decoder.attn.linear_in.weight"] = ("decoder.attention.projection.weight", True)
    if attention != "none":
        mapping["decoder.attn.linear_out.weight"] = ("decoder.attentional_layer.weight", False)
    mapping[GENERATOR + "weight"] = ("word_classifier.weight", False)
    mapping[GENERATOR + "bias"] = ("word_classifier.bias", False)
    return mapping


def _origin(key: str) -> str:
    for pattern, option in KEY_ORIGINS:
        if re.search(pattern, key):
            return f"{key} ({option})"
    return key


def convert_state_dict(
    onmt_state: Mapping[str, torch.Tensor],
    generator_state: Mapping[str, torch.Tensor] | None,
    *,
    num_layers: int,
    bidirectional: bool,
    attention: str = "general",
    input_feeding: bool = True,
) -> dict[str, torch.Tensor]:
    """Our state dict from a checkpoint's ``model`` and ``generator``: every expected OpenNMT-py
    tensor used exactly once (``linear_in`` transposed), anything missing, unknown or given twice an
    error naming the keys (and the option that adds an unsupported one)."""
    generator_state = dict(generator_state or {})
    for old in ("weight", "bias"):
        if f"0.{old}" in generator_state:
            if old in generator_state:
                raise ValueError(f"the generator holds both '0.{old}' and '{old}'")
            generator_state[old] = generator_state.pop(f"0.{old}")
    given = dict(onmt_state)
    twice = sorted(GENERATOR + key for key in generator_state if GENERATOR + key in given)
    if twice:
        raise ValueError(f"tensors given both in the model and in the generator state dicts: {twice}")
    given.update({GENERATOR + key: value for key, value in generator_state.items()})
    mapping = key_map(num_layers, bidirectional, attention, input_feeding)
    missing, unknown = sorted(set(mapping) - set(given)), sorted(set(given) - set(mapping))
    if missing or unknown:
        layout = (f"{num_layers} layer(s), {'brnn' if bidirectional else 'rnn'} encoder, {attention} attention, "
                  f"input feeding {'on' if input_feeding else 'off'}")
        raise ValueError(
            f"the checkpoint's tensors do not match its options ({layout}): {len(missing)} missing {missing}, "
            f"{len(unknown)} unknown {[_origin(key) for key in unknown]}"
        )
    converted = {}
    for key, (target, transpose) in mapping.items():
        tensor = given[key]
        if transpose:
            if tensor.dim() != 2:
                raise ValueError(f"{key} must be a matrix; got shape {tuple(tensor.shape)}")
            tensor = tensor.t()
        converted[target] = tensor.contiguous()
    return converted


def read_vocab(vocab) -> tuple[list[str], list[str], str]:
    """``(source tokens, target tokens, decoder start token)`` of a 3.x checkpoint's ``vocab``."""
    if not isinstance(vocab, Mapping) or not all(isinstance(vocab.get(side), list) for side in ("src", "tgt")):
        raise ValueError("the checkpoint's 'vocab' is not OpenNMT-py 3.x's {'src': [tokens], 'tgt': [tokens], ...}")
    if vocab.get("src_feats"):
        raise ValueError("the checkpoint has source feature vocabularies (-n_src_feats), which the Luong model does not read")
    if vocab.get("data_task", "seq2seq") != "seq2seq":
        raise ValueError(f"the checkpoint is a {vocab.get('data_task')!r} model, not a seq2seq translator")
    start = vocab.get("decoder_start_token", BOS)
    for side, required in (("src", (UNK, PAD)), ("tgt", (UNK, PAD, EOS, start))):
        tokens = vocab[side]
        if not all(isinstance(token, str) for token in tokens):
            raise ValueError(f"the {side} vocabulary must be a list of strings")
        repeated = sorted(token for token, count in Counter(tokens).items() if count > 1)
        if repeated:
            raise ValueError(f"the {side} vocabulary lists tokens twice: {repeated[:10]}")
        absent = [token for token in required if token not in tokens]
        if absent:
            raise ValueError(f"the {side} vocabulary lacks OpenNMT-py's special tokens {absent}")
    return list(vocab["src"]), list(vocab["tgt"]), start


def onmt_tokenizer(tokens: list[str], *, append_eos: bool, max_length: int = MAX_SOURCE_TOKENS) -> PreTrainedTokenizerFast:
    """A word-level tokenizer with OpenNMT-py's ids (list positions): words split on whitespace, case
    kept, unknown words ``<unk>``; ``</s>`` appended to every sentence when ``append_eos`` (the
    target side: OpenNMT's targets end with it, its sources do not)."""
    vocab = {token: index for index, token in enumerate(tokens)}
    backend = Tokenizer(WordLevel(vocab, unk_token=UNK))
    backend.normalizer = normalizers.Sequence([])
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    special = {"pad_token": PAD, "unk_token": UNK}
    if append_eos:
        backend.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, vocab[EOS])])
    if BOS in vocab:
        special["bos_token"] = BOS
    if EOS in vocab:
        special["eos_token"] = EOS
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, model_max_length=max_length, padding_side="right", truncation_side="right",
        model_input_names=["input_ids", "attention_mask"], clean_up_tokenization_spaces=False, **special,
    )


def build_processor(source_tokens: list[str], target_tokens: list[str]) -> TranslationProcessor:
    return TranslationProcessor(onmt_tokenizer(source_tokens, append_eos=False), onmt_tokenizer(target_tokens, append_eos=True))


def infer_config(checkpoint: Mapping) -> LuongConfig:
    """The config of a loaded checkpoint: the layout from its ``opt``, the sizes from its tensors,
    the special token ids from its vocabularies."""
    layout = read_options(checkpoint["opt"])
    source_tokens, target_tokens, start = read_vocab(checkpoint["vocab"])
    model_state = _tensors(checkpoint["model"], "'model'")
    generator = _tensors(checkpoint.get("generator") or {}, "'generator'")
    weight = generator.get("weight", generator.get("0.weight"))
    for key, what in ((SOURCE_EMBEDDING, "source embedding"), (TARGET_EMBEDDING, "target embedding")):
        if key not in model_state or model_state[key].dim() != 2:
            raise ValueError(f"the checkpoint has no {what} {key}: is it an OpenNMT-py RNN translator?" + (
                f" (its tensors look like {_origin(next(iter(model_state)))})" if model_state else ""))
    if weight is None or weight.dim() != 2:
        raise ValueError("the checkpoint's generator has no weight matrix (-copy_attn models have a CopyGenerator instead)")
    source_rows, embedding_size = model_state[SOURCE_EMBEDDING].shape
    target_rows, target_embedding_size = model_state[TARGET_EMBEDDING].shape
    if embedding_size != target_embedding_size:
        raise ValueError(f"source and target embeddings differ in size ({embedding_size} vs {target_embedding_size}): "
                         "the model has one embedding_size")
    for side, tokens, rows in (("source", source_tokens, source_rows), ("target", target_tokens, target_rows)):
        if len(tokens) != rows:
            raise ValueError(f"the {side} vocabulary has {len(tokens)} tokens but its embedding has {rows} rows")
    target = {token: index for index, token in enumerate(target_tokens)}
    return LuongConfig(
        source_vocab_size=source_rows,
        vocab_size=target_rows,
        embedding_size=embedding_size,
        hidden_size=weight.shape[1],
        num_layers=layout["num_layers"],
        encoder_bidirectional=layout["bidirectional"],
        attention=layout["attention"],
        input_feeding=layout["input_feeding"],
        dropout=layout["dropout"],
        source_pad_token_id=source_tokens.index(PAD),
        pad_token_id=target[PAD],
        bos_token_id=target.get(BOS, target[start]),
        eos_token_id=target[EOS],
        decoder_start_token_id=target[start],
        max_new_tokens=MAX_NEW_TOKENS,
    )


def convert_checkpoint(checkpoint: Mapping, *, num_beams: int = NUM_BEAMS, max_new_tokens: int = MAX_NEW_TOKENS):
    """``(model, processor)`` of a loaded OpenNMT-py checkpoint; the model in eval mode, generating
    with beam ``num_beams``, no length penalty, at most ``max_new_tokens`` words."""
    config = infer_config(checkpoint)
    layout = read_options(checkpoint["opt"])
    state = convert_state_dict(
        _tensors(checkpoint["model"], "'model'"), _tensors(checkpoint.get("generator") or {}, "'generator'"),
        num_layers=layout["num_layers"], bidirectional=layout["bidirectional"], attention=layout["attention"],
        input_feeding=layout["input_feeding"],
    )
    model = LuongForConditionalGeneration(config)
    load_converted_state_dict(model, state)
    model.generation_config.update(num_beams=num_beams, length_penalty=0.0, max_new_tokens=max_new_tokens)
    source_tokens, target_tokens, _ = read_vocab(checkpoint["vocab"])
    return model.eval(), build_processor(source_tokens, target_tokens)


def convert(args: argparse.Namespace) -> Path:
    checkpoint = load_onmt_checkpoint(args.checkpoint)
    model, processor = convert_checkpoint(checkpoint, num_beams=args.num_beams, max_new_tokens=args.max_new_tokens)
    config = model.config
    notes = {
        "original_code": "OpenNMT/OpenNMT-py 3.x (onmt_train RNN translator)",
        "layout": (f"{config.num_layers} layer(s), {'brnn' if config.encoder_bidirectional else 'rnn'} encoder, "
                   f"{config.attention} attention, input feeding {'on' if config.input_feeding else 'off'}"),
        "transposed": "decoder.attn.linear_in.weight -> decoder.attention.projection.weight" if config.attention == "general" else None,
        "tokenizers": "OpenNMT-py's vocabularies and ids; words split on whitespace; </s> ends targets, not sources",
        "generation": (f"beam {args.num_beams}, length_penalty 0 (onmt_translate -length_penalty none), at most {args.max_new_tokens} "
                       "words; onmt_translate's defaults also divide scores by length (-length_penalty avg) and cap the "
                       "length at 1.25 x source + 5"),
    }
    if isinstance(checkpoint.get("optim"), Mapping) and "training_step" in checkpoint["optim"]:
        notes["training_step"] = int(checkpoint["optim"]["training_step"])
    return save_converted_folder(model, processor, args.output_dir, source=str(args.checkpoint), notes=notes)


__all__ = [
    "SAFE_GLOBALS",
    "add_arguments",
    "build_processor",
    "convert",
    "convert_checkpoint",
    "convert_state_dict",
    "infer_config",
    "key_map",
    "load_onmt_checkpoint",
    "onmt_tokenizer",
    "read_options",
    "read_vocab",
]

"""Convert a released MCAN checkpoint (MILVLG/mcan-vqa or MILVLG/openvqa) into an hf-mmattn folder.

    python -m hf_mmattn.convert mcan --checkpoint ckpts/ckpt_small/epoch13.pkl \\
        --answer_dict core/data/answer_dict.json \\
        --questions v2_OpenEnded_mscoco_train2014_questions.json v2_OpenEnded_mscoco_val2014_questions.json \\
                    v2_OpenEnded_mscoco_test2015_questions.json VG_questions.json \\
        --output_dir out/mcan-small

The checkpoint is ``{'state_dict', 'optimizer', 'lr_base', 'epoch'}`` as both codes save it (keys
``module.``-prefixed after multi-GPU training). Neither code saves its word vocabulary: it is
rebuilt at every run from the questions of VQA v2 train, val, test and Visual Genome, in that
order (``tokenize`` in ``core/data/data_utils.py`` / ``openvqa/datasets/vqa/vqa_loader.py``).
Give those four files to ``--questions`` in that order, or a ``--token_to_ix`` JSON dict
{word: id} saved from the original code. mcan-vqa starts the vocabulary with PAD=0, UNK=1;
OpenVQA adds CLS=2. The answers come from ``answer_dict.json`` ([ans_to_ix, ix_to_ans]).

Sizes (small / large, number of layers, glimpses, box features) are read from the tensor shapes;
the number of heads (8 in every released configuration) cannot be, see ``--num_attention_heads``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch
from tokenizers import Regex, normalizers

from ...convert import (
    build_word_tokenizer,
    checkpoint_state_dict,
    load_converted_state_dict,
    load_original_checkpoint,
    save_converted_folder,
)
from ...processing.image_processor import VQAImageProcessor
from ...tasks.vqa.processing import VQAProcessor
from .configuration_mcan import LAYOUTS, McanConfig
from .modeling_mcan import McanForVisualQuestionAnswering

FORMATS = ("openvqa", "mcan-vqa")
# The question cleaning of both codes: lower-case, drop these characters, '-' and '/' to spaces,
# split on white space; at most 14 words, padded with PAD = 0.
PUNCTUATION = r"""[.,'!?"()*#:;]"""
MAX_TOKEN = 14
FIRST_TOKENS = {"mcan-vqa": ("PAD", "UNK"), "openvqa": ("PAD", "UNK", "CLS")}
IMAGE_PROJECTION = {"openvqa": "adapter.frcn_linear", "mcan-vqa": "img_feat_linear"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="the original epochN.pkl ({'state_dict', ...}) or a bare state dict")
    parser.add_argument("--format", choices=FORMATS, default=None, help="key layout of the checkpoint (detected from its keys if omitted)")
    parser.add_argument("--answer_dict", required=True, help="answer_dict.json of the original code: [ans_to_ix, ix_to_ans]")
    vocabulary = parser.add_mutually_exclusive_group(required=True)
    vocabulary.add_argument("--token_to_ix", help="JSON {word: id} of the original vocabulary")
    vocabulary.add_argument(
        "--questions", nargs="+",
        help="the question JSON files the original vocabulary is built from, in the original order: VQA v2 train, val, test, VG",
    )
    parser.add_argument("--num_attention_heads", type=int, default=8, help="heads of every attention layer (8 in the released configs)")
    parser.add_argument("--layout", choices=LAYOUTS, default="encoder_decoder", help="the released models are encoder-decoder")


# --- vocabulary --------------------------------------------------------------------------------

def question_words(question: str) -> list[str]:
    """The original tokenisation (``tokenize`` / ``proc_ques`` of both codes)."""
    return re.sub(r"([.,'!?\"()*#:;])", "", question.lower()).replace("-", " ").replace("/", " ").split()


def build_token_to_ix(question_files: list[str | Path], format: str) -> dict[str, int]:
    """The original vocabulary: the format's first tokens, then every word in order of first
    appearance over the questions of ``question_files`` read in order."""
    token_to_ix = {token: index for index, token in enumerate(FIRST_TOKENS[format])}
    for path in question_files:
        with open(path) as file:
            questions = json.load(file)
        if not isinstance(questions, dict) or "questions" not in questions:
            raise ValueError(f"{path} is not a VQA question file (a JSON object with a 'questions' list)")
        for question in questions["questions"]:
            for word in question_words(question["question"]):
                if word not in token_to_ix:
                    token_to_ix[word] = len(token_to_ix)
    return token_to_ix


def build_processor(token_to_ix: dict[str, int]) -> VQAProcessor:
    """A processor whose tokenizer gives the original ids (PAD = 0 on the right, unknown words UNK)."""
    tokenizer = build_word_tokenizer(
        token_to_ix,
        pad_token="PAD",
        unk_token="UNK",
        normalizer_steps=[
            normalizers.Lowercase(),
            normalizers.Replace(Regex(PUNCTUATION), ""),
            normalizers.Replace("-", " "),
            normalizers.Replace("/", " "),
        ],
        max_length=MAX_TOKEN,
        padding_side="right",
    )
    return VQAProcessor(VQAImageProcessor(), tokenizer)


def read_answer_dict(path: str | Path) -> dict[int, str]:
    with open(path) as file:
        content = json.load(file)
    if not (isinstance(content, list) and len(content) == 2 and all(isinstance(part, dict) for part in content)):
        raise ValueError(f"{path} is not an answer_dict.json: expected [ans_to_ix, ix_to_ans]")
    id2label = {int(index): answer for index, answer in content[1].items()}
    if sorted(id2label) != list(range(len(id2label))):
        raise ValueError(f"{path}: the answer ids must be 0..N-1")
    return id2label


# --- weights -----------------------------------------------------------------------------------

def detect_format(state_dict: dict) -> str:
    found = [name for name, prefix in IMAGE_PROJECTION.items() if f"{prefix}.weight" in state_dict]
    if len(found) != 1:
        raise ValueError(
            "cannot tell the checkpoint's format: expected 'adapter.frcn_linear.weight' (OpenVQA) or "
            "'img_feat_linear.weight' (mcan-vqa) among its keys; pass --format"
        )
    return found[0]


def _count_layers(state_dict: dict, prefix: str) -> int:
    indices = {int(match.group(1)) for key in state_dict if (match := re.match(rf"{re.escape(prefix)}\.(\d+)\.", key))}
    if indices != set(range(len(indices))):
        raise ValueError(f"the layers {prefix}.* are not numbered 0..L-1: {sorted(indices)}")
    return len(indices)


def config_from_state_dict(state_dict: dict, format: str, **overrides) -> McanConfig:
    """The McanConfig the tensor shapes describe, with the released code's LayerNorm and masking."""
    def shape(key):
        if key not in state_dict:
            raise ValueError(f"the checkpoint has no {key!r}: not an MCAN {format} checkpoint")
        return tuple(state_dict[key].shape)

    vocab_size, word_embedding_size = shape("embedding.weight")
    hidden_size = shape("lstm.weight_hh_l0")[1]
    projection_input = shape(f"{IMAGE_PROJECTION[format]}.weight")[1]
    use_box_features = "adapter.bbox_linear.weight" in state_dict
    box_feature_size = shape("adapter.bbox_linear.weight")[0] if use_box_features else 2048
    num_layers = _count_layers(state_dict, "backbone.enc_list")
    if _count_layers(state_dict, "backbone.dec_list") != num_layers:
        raise ValueError("the checkpoint has different numbers of encoder and decoder layers")
    return McanConfig(
        vocab_size=vocab_size,
        pad_token_id=0,
        word_embedding_size=word_embedding_size,
        hidden_size=hidden_size,
        intermediate_size=shape("backbone.enc_list.0.ffn.mlp.fc.linear.weight")[0],
        num_layers=num_layers,
        attflat_hidden_size=shape("attflat_img.mlp.fc.linear.weight")[0],
        attflat_glimpses=shape("attflat_img.mlp.linear.weight")[0],
        fused_size=shape("attflat_img.linear_merge.weight")[0],
        image_encoder="features",
        image_feature_size=projection_input - (box_feature_size if use_box_features else 0),
        use_box_features=use_box_features,
        box_feature_size=box_feature_size,
        layer_norm_form="code",
        layer_norm_eps=1e-6,
        mask_all_zero_regions=True,
        dropout=0.1,
        problem_type="multi_label_classification",
        **overrides,
    )


def convert_state_dict(original: dict[str, torch.Tensor], format: str, num_layers: int) -> dict[str, torch.Tensor]:
    """Our state dict from the original one. Every original tensor must be used exactly once: a
    missing or a left-over key raises a ValueError naming it."""
    remaining = dict(original)
    missing = []

    def take(key):
        if key not in remaining:
            missing.append(key)
            return None
        return remaining.pop(key)

    def linear(ours, theirs):
        converted[f"{ours}.weight"] = take(f"{theirs}.weight")
        converted[f"{ours}.bias"] = take(f"{theirs}.bias")

    def stacked(ours, theirs_list):
        for name in ("weight", "bias"):
            parts = [take(f"{theirs}.{name}") for theirs in theirs_list]
            converted[f"{ours}.{name}"] = None if any(part is None for part in parts) else torch.cat(parts, dim=0)

    def norm(ours, theirs):
        converted[f"{ours}.weight"] = take(f"{theirs}.a_2")
        converted[f"{ours}.bias"] = take(f"{theirs}.b_2")

    def attention(ours, theirs, guided):
        if guided:
            linear(f"{ours}.query", f"{theirs}.linear_q")
            stacked(f"{ours}.key_value", [f"{theirs}.linear_k", f"{theirs}.linear_v"])
        else:
            stacked(f"{ours}.query_key_value", [f"{theirs}.linear_q", f"{theirs}.linear_k", f"{theirs}.linear_v"])
        linear(f"{ours}.output", f"{theirs}.linear_merge")

    def feed_forward(ours, theirs):
        linear(f"{ours}.fc1", f"{theirs}.mlp.fc.linear")
        linear(f"{ours}.fc2", f"{theirs}.mlp.linear")

    def reduction(ours, theirs):
        linear(f"{ours}.mlp.0", f"{theirs}.mlp.fc.linear")
        linear(f"{ours}.mlp.3", f"{theirs}.mlp.linear")
        linear(f"{ours}.merge", f"{theirs}.linear_merge")

    converted = {"model.question_encoder.embedding.weight": take("embedding.weight")}
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        converted[f"model.question_encoder.lstm.{name}"] = take(f"lstm.{name}")
    linear("model.image_projection", IMAGE_PROJECTION[format])
    if "adapter.bbox_linear.weight" in original:
        linear("model.box_projection", "adapter.bbox_linear")
    for i in range(num_layers):
        ours, theirs = f"model.question_layers.{i}", f"backbone.enc_list.{i}"
        attention(f"{ours}.attention", f"{theirs}.mhatt", guided=False)
        norm(f"{ours}.attention_norm", f"{theirs}.norm1")
        feed_forward(f"{ours}.feed_forward", f"{theirs}.ffn")
        norm(f"{ours}.feed_forward_norm", f"{theirs}.norm2")
        ours, theirs = f"model.image_layers.{i}", f"backbone.dec_list.{i}"
        attention(f"{ours}.self_attention", f"{theirs}.mhatt1", guided=False)
        norm(f"{ours}.self_attention_norm", f"{theirs}.norm1")
        attention(f"{ours}.guided_attention", f"{theirs}.mhatt2", guided=True)
        norm(f"{ours}.guided_attention_norm", f"{theirs}.norm2")
        feed_forward(f"{ours}.feed_forward", f"{theirs}.ffn")
        norm(f"{ours}.feed_forward_norm", f"{theirs}.norm3")
    reduction("model.question_reduction", "attflat_lang")
    reduction("model.image_reduction", "attflat_img")
    norm("classifier.norm", "proj_norm")
    linear("classifier.proj", "proj")

    problems = []
    if missing:
        problems.append(f"{len(missing)} tensors of the {format} MCAN are missing from the checkpoint: {missing}")
    if remaining:
        problems.append(f"{len(remaining)} checkpoint tensors are not part of the {format} MCAN: {sorted(remaining)}")
    if problems:
        raise ValueError("cannot convert the checkpoint: " + "; ".join(problems))
    return converted


def convert(args) -> Path:
    checkpoint = load_original_checkpoint(args.checkpoint)
    state_dict = checkpoint_state_dict(checkpoint, "state_dict", "an MCAN checkpoint {'state_dict', 'optimizer', 'lr_base', 'epoch'}")
    format = args.format or detect_format(state_dict)

    id2label = read_answer_dict(args.answer_dict)
    config = config_from_state_dict(
        state_dict, format,
        num_attention_heads=args.num_attention_heads,
        layout=args.layout,
        id2label=id2label,
        label2id={answer: index for index, answer in id2label.items()},
    )
    if config.num_labels != state_dict["proj.weight"].shape[0]:
        raise ValueError(f"{args.answer_dict} has {config.num_labels} answers but the checkpoint's classifier has {state_dict['proj.weight'].shape[0]}")

    if args.token_to_ix:
        with open(args.token_to_ix) as file:
            token_to_ix = json.load(file)
    else:
        token_to_ix = build_token_to_ix(args.questions, format)
    if len(token_to_ix) != config.vocab_size:
        raise ValueError(
            f"the vocabulary has {len(token_to_ix)} words but the checkpoint's embedding has {config.vocab_size} rows: "
            "the question files (or their order: train, val, test, VG) are not the ones the model was trained with"
        )
    if token_to_ix.get("PAD") != 0 or token_to_ix.get("UNK") != 1:
        raise ValueError("the original vocabulary starts with PAD = 0 and UNK = 1")

    model = McanForVisualQuestionAnswering(config).eval()
    load_converted_state_dict(model, convert_state_dict(state_dict, format, config.num_layers))
    notes = {
        "format": format,
        "epoch": checkpoint.get("epoch") if isinstance(checkpoint, dict) else None,
        "lr_base": checkpoint.get("lr_base") if isinstance(checkpoint, dict) else None,
        "vocabulary": args.token_to_ix or [str(path) for path in args.questions],
        "answer_dict": str(args.answer_dict),
    }
    return save_converted_folder(model, build_processor(token_to_ix), args.output_dir, source=str(args.checkpoint), notes=notes)


__all__ = [
    "add_arguments",
    "convert",
    "convert_state_dict",
    "config_from_state_dict",
    "detect_format",
    "build_token_to_ix",
    "build_processor",
    "question_words",
]

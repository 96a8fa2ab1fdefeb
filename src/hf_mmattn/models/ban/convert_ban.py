"""Convert a jnhwkim/ban-vqa checkpoint (BAN-8 with the counting module) into an hf-mmattn folder.

    python -m hf_mmattn.convert ban --checkpoint saved_models/ban/model_epoch12.pth \\
        --dictionary data/dictionary.pkl --label2ans data/cache/trainval_label2ans.pkl --output_dir out/ban-vqa

The checkpoint is ``{'epoch', 'model_state', 'optimizer_state'}`` with ``module.``-prefixed keys
(a bare state dict works too). Sizes are read from the tensors' shapes; ``--preset`` gives what
shapes cannot tell (the dropouts). The folder's model runs with ``question_padding="released"``
and its processor reproduces ban-vqa's ``Dictionary.tokenize``: lower-case, drop ``,`` and
``?``, split ``'s``, split on spaces; unknown words get id ntoken - 1 and padding id ntoken.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch
from tokenizers import normalizers

from ...convert import (
    build_word_tokenizer,
    checkpoint_state_dict,
    load_converted_state_dict,
    load_original_checkpoint,
    read_pickle_data,
    save_converted_folder,
)
from ...processing.image_processor import VQAImageProcessor
from ...tasks.vqa.processing import VQAProcessor
from .configuration_ban import BAN_PRESETS, BanConfig
from .modeling_ban import BanForVisualQuestionAnswering

PAD_TOKEN = "<pad>"
# ban-vqa's counting module builds 16 piecewise-linear maps and its forward uses f[0]..f[7].
UNUSED_COUNTER_FUNCTIONS = tuple(f"counter.f.{i}.weight" for i in range(8, 16))

# ban-vqa key → hf-mmattn key; `{g}` is a glimpse, `{p}` a weight-normed parameter.
_WEIGHT_NORM = r"(?P<p>weight_g|weight_v|bias)"
RENAMED = {"weight_g": "weight_scale", "weight_v": "weight_direction", "bias": "bias"}
KEY_PATTERNS = [
    (r"w_emb\.emb\.weight", "model.question_encoder.embedding.weight"),
    (r"w_emb\.emb_\.weight", "model.question_encoder.tfidf_embedding.weight"),
    (r"q_emb\.rnn\.(?P<p>(weight|bias)_(ih|hh)_l0)", "model.question_encoder.rnn.{p}"),
    (r"v_att\.logits\.h_mat_g", "model.attention.glimpse_weight_scale"),
    (r"v_att\.logits\.h_mat_v", "model.attention.glimpse_weight_direction"),
    (r"v_att\.logits\.h_bias", "model.attention.glimpse_bias"),
    (rf"v_att\.logits\.v_net\.main\.[01]\.{_WEIGHT_NORM}", "model.attention.region_projection.linear.{p}"),
    (rf"v_att\.logits\.q_net\.main\.[01]\.{_WEIGHT_NORM}", "model.attention.question_projection.linear.{p}"),
    (rf"b_net\.(?P<g>\d+)\.v_net\.main\.[01]\.{_WEIGHT_NORM}", "model.glimpse_poolings.{g}.region_projection.linear.{p}"),
    (rf"b_net\.(?P<g>\d+)\.q_net\.main\.[01]\.{_WEIGHT_NORM}", "model.glimpse_poolings.{g}.question_projection.linear.{p}"),
    (rf"q_prj\.(?P<g>\d+)\.main\.[01]\.{_WEIGHT_NORM}", "model.question_projections.{g}.linear.{p}"),
    (rf"c_prj\.(?P<g>\d+)\.main\.[01]\.{_WEIGHT_NORM}", "model.count_projections.{g}.linear.{p}"),
    (r"counter\.f\.(?P<g>[0-7])\.weight", "model.counter.functions.{g}.weight"),
    (rf"classifier\.main\.0\.{_WEIGHT_NORM}", "classifier.hidden.{p}"),
    (rf"classifier\.main\.3\.{_WEIGHT_NORM}", "classifier.output.{p}"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="ban-vqa model file (model_epochN.pth)")
    parser.add_argument("--dictionary", required=True, help="ban-vqa data/dictionary.pkl ([word2idx, idx2word])")
    parser.add_argument("--label2ans", required=True, help="ban-vqa data/cache/trainval_label2ans.pkl (list of answers)")
    parser.add_argument("--preset", default="ban-vqa", choices=sorted(BAN_PRESETS), help="what the shapes cannot tell (dropouts)")


def infer_config(state: dict[str, torch.Tensor], preset: str, id2label: dict[int, str]) -> BanConfig:
    """A BanConfig whose sizes are read from the tensors' shapes, on top of ``preset``."""
    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise ValueError(f"the checkpoint has no {key!r}: is it a ban-vqa BAN (build_ban, task 'vqa')?")
        return tuple(state[key].shape)

    vocab_size, word_size = shape("w_emb.emb.weight")
    hidden = shape("q_emb.rnn.weight_hh_l0")[1]
    attention_inner = shape("v_att.logits.h_mat_v")
    region_key = next((k for k in state if re.fullmatch(r"v_att\.logits\.v_net\.main\.[01]\.weight_v", k)), "v_att.logits.v_net.main.1.weight_v")
    pooling_key = next((k for k in state if re.fullmatch(r"b_net\.0\.v_net\.main\.[01]\.weight_v", k)), "b_net.0.v_net.main.1.weight_v")
    use_counter = any(k.startswith("counter.") for k in state)
    sizes = dict(
        vocab_size=vocab_size,
        pad_token_id=vocab_size - 1,  # ban-vqa's padding_idx = ntoken, the embedding's last row
        word_embedding_size=word_size,
        word_embedding_type="concat" if "w_emb.emb_.weight" in state else "single",
        hidden_size=hidden,
        num_glimpses=attention_inner[1],
        attention_rank_factor=attention_inner[-1] // hidden,
        pooling_rank_factor=shape(pooling_key)[0] // hidden,
        image_feature_size=shape(region_key)[1],
        use_counter=use_counter,
        answer_head="mlp",
        answer_hidden_size=shape("classifier.main.0.weight_v")[0],
        question_padding="released",
        image_encoder="features",
        id2label=id2label,
        label2id={label: index for index, label in id2label.items()},
    )
    if use_counter:
        sizes["num_counted_objects"] = shape("c_prj.0.main.0.weight_v")[1] - 1
    if len(id2label) != shape("classifier.main.3.weight_v")[0]:
        raise ValueError(f"the label2ans file has {len(id2label)} answers but the classifier has {shape('classifier.main.3.weight_v')[0]} outputs")
    return BanConfig.from_preset(preset, **sizes)


def convert_state_dict(state: dict[str, torch.Tensor], model: BanForVisualQuestionAnswering) -> dict[str, torch.Tensor]:
    """Rename every tensor to its hf-mmattn key (reshaping the attention's ``h_mat``/``h_bias`` and
    scalar ``weight_g``s to our shapes); a key no pattern knows is an error."""
    expected = model.state_dict()
    converted, unknown = {}, []
    for key, tensor in state.items():
        if key in UNUSED_COUNTER_FUNCTIONS:
            continue
        for pattern, target in KEY_PATTERNS:
            match = re.fullmatch(pattern, key)
            if match:
                groups = match.groupdict()
                if "p" in groups and groups["p"] in RENAMED and "rnn" not in target:
                    groups["p"] = RENAMED[groups["p"]]
                new_key = target.format(**groups)
                if new_key in expected and tensor.numel() == expected[new_key].numel():
                    tensor = tensor.reshape(expected[new_key].shape)
                converted[new_key] = tensor
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"{len(unknown)} tensors of the checkpoint are not part of ban-vqa's BanModel: {sorted(unknown)}")
    return converted


def build_processor(dictionary, max_length: int) -> VQAProcessor:
    """A VQAProcessor whose tokenizer gives ban-vqa's ids: words of ``word2idx``, unknown words →
    ntoken - 1 (ban-vqa's UNK), padding → ntoken (on the right)."""
    if not (isinstance(dictionary, (list, tuple)) and len(dictionary) == 2 and isinstance(dictionary[0], dict)):
        raise ValueError("the dictionary file must hold [word2idx, idx2word], as ban-vqa's Dictionary.dump_to_file writes")
    word2idx, idx2word = dictionary
    ntoken = len(word2idx)
    if PAD_TOKEN in word2idx:
        raise ValueError(f"the dictionary already has a word {PAD_TOKEN!r}")
    tokenizer = build_word_tokenizer(
        {**word2idx, PAD_TOKEN: ntoken},
        pad_token=PAD_TOKEN,
        unk_token=idx2word[ntoken - 1],
        normalizer_steps=[
            normalizers.Lowercase(),
            normalizers.Replace(",", ""),
            normalizers.Replace("?", ""),
            normalizers.Replace("'s", " 's"),
        ],
        max_length=max_length,
        padding_side="right",
    )
    return VQAProcessor(VQAImageProcessor(), tokenizer)


def convert(args: argparse.Namespace) -> Path:
    state = checkpoint_state_dict(
        load_original_checkpoint(args.checkpoint), "model_state", "a ban-vqa checkpoint {'epoch', 'model_state', 'optimizer_state'}"
    )
    dictionary = read_pickle_data(args.dictionary)
    answers = read_pickle_data(args.label2ans)
    if not isinstance(answers, (list, tuple)) or not all(isinstance(a, str) for a in answers):
        raise ValueError("the label2ans file must hold a list of answer strings")
    config = infer_config(state, args.preset, dict(enumerate(answers)))
    if len(dictionary[0]) + 1 != config.vocab_size:
        raise ValueError(f"the dictionary has {len(dictionary[0])} words but the embedding has {config.vocab_size} rows (expected words + 1)")
    model = BanForVisualQuestionAnswering(config)
    load_converted_state_dict(model, convert_state_dict(state, model))
    processor = build_processor(dictionary, config.question_max_length)
    notes = {
        "original_code": "jnhwkim/ban-vqa",
        "preset": args.preset,
        "question_padding": "released (GRU and attention run over the padding, as the original)",
        "dropped_tensors": f"{', '.join(k for k in UNUSED_COUNTER_FUNCTIONS if k in state)} (built but never used by ban-vqa's Counter)",
    }
    return save_converted_folder(model.eval(), processor, args.output_dir, source=str(args.checkpoint), notes=notes)


__all__ = ["add_arguments", "convert", "convert_state_dict", "infer_config", "build_processor"]

"""Convert a checkpoint of sgrvinod's a-PyTorch-Tutorial-to-Image-Captioning (Show, Attend and Tell on
ResNet-101 features) into an hf-mmattn folder.

The tutorial's ``train.py`` saves whole pickled modules
(``{'epoch', ..., 'encoder': Encoder, 'decoder': DecoderWithAttention, ...}``): loading them runs
code from the file and needs the tutorial's ``models.py`` importable as ``models``. This converter
never unpickles code. Extract the weights once, inside the tutorial's folder, from a file you trust:

    import torch
    ckpt = torch.load("BEST_checkpoint_coco_5_cap_per_img_5_min_word_freq.pth.tar", weights_only=False)
    torch.save({"decoder": ckpt["decoder"].state_dict(), "encoder": ckpt["encoder"].state_dict()}, "sat_state_dicts.pt")

then convert with the word map the tutorial wrote beside its data:

    python -m hf_mmattn.convert show_attend_tell --checkpoint sat_state_dicts.pt \\
        --word_map WORDMAP_coco_5_cap_per_img_5_min_word_freq.json --output_dir out/sat-sgrvinod [--encoder resnet101]

``--encoder features`` (default) converts the decoder alone: the model reads the tutorial encoder's
output ``(batch, 14, 14, 2048)`` flattened row by row to ``image_features`` ``(batch, 196, 2048)``.
``--encoder resnet101`` also converts the torchvision ResNet (``resnet.0`` conv1, ``resnet.1`` bn1,
``resnet.4``-``resnet.7`` layer1-layer4) into a transformers ResNet backbone whose last feature map
is average-pooled adaptively to 14x14, as the tutorial's Encoder does, so the folder captions
images end to end. The sizes (vocabulary, embedding, LSTM, attention, annotation size, ResNet depths
and widths) are read from the tensors' shapes; the rest is the ``"sgrvinod"`` preset of
[`ShowAttendTellConfig`] (ReLU attention, vector gate, linear f_init, no deep output).

Weights map one to one, except one rewrite, exact up to one float32 rounding: the tutorial adds two
biases before the attention ReLU, ``encoder_att(a) + decoder_att(h)``; our W_h h_{t-1} has none, so
``decoder_att.bias`` is folded into ``attention_annotations.bias``. The tokenizer keeps the word map's ids (``<pad>`` 0, words,
``<unk>``, ``<start>``, ``<end>``); images are resized to 256x256 and normalised with the ImageNet
mean/std, as the tutorial's ``caption.py`` does. Generation defaults follow ``caption.py``: beam 5,
at most 51 words, hypotheses ranked by their summed log-probability (``length_penalty=0``).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch
from transformers import ResNetConfig
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from ...convert import load_converted_state_dict, load_original_checkpoint, save_converted_folder, strip_prefix
from ...tasks.captioning.processing import CAPTION_SPECIAL_TOKENS, CaptioningProcessor, wrap_caption_tokenizer
from ...processing.image_processor import square_image_processor
from .configuration_show_attend_tell import ShowAttendTellConfig
from .modeling_show_attend_tell import ShowAttendTellForConditionalGeneration

ENCODERS = ("features", "resnet101")
IMAGE_SIZE = 256  # caption.py: imresize(img, (256, 256))
MAX_CAPTION_WORDS = 50  # create_input_files.py: max_len=50
MAX_GENERATED_WORDS = 51  # caption.py stops after step 51 ("if step > 50: break")
BEAM_SIZE = 5  # caption.py's --beam_size default; the README's scores are at beam 5 too
SPECIAL_TOKENS = CAPTION_SPECIAL_TOKENS  # the tutorial's word map uses the same names


def extraction_help(checkpoint: str | Path = "BEST_checkpoint_coco_5_cap_per_img_5_min_word_freq.pth.tar") -> str:
    """How to turn the tutorial's pickled-module checkpoint into the state dicts this converter reads."""
    return (
        "The tutorial's train.py pickles whole modules into its checkpoints, which this converter does not "
        "unpickle (that would run code from the file). Inside the tutorial's folder, with a file you trust, run:\n"
        "    import torch\n"
        f"    ckpt = torch.load({str(checkpoint)!r}, weights_only=False)\n"
        "    torch.save({'decoder': ckpt['decoder'].state_dict(), 'encoder': ckpt['encoder'].state_dict()}, 'sat_state_dicts.pt')\n"
        "and pass --checkpoint sat_state_dicts.pt."
    )

# DecoderWithAttention key → ours; attention.decoder_att.bias is folded separately.
DECODER_KEYS = {
    "embedding.weight": "embedding.weight",
    "attention.encoder_att.weight": "attention_annotations.weight",
    "attention.encoder_att.bias": "attention_annotations.bias",
    "attention.decoder_att.weight": "attention_state.weight",
    "attention.full_att.weight": "attention_score.weight",
    "attention.full_att.bias": "attention_score.bias",
    # nn.LSTMCell both sides: gates packed i, f, g, o; input [embedding; gated context].
    "decode_step.weight_ih": "lstm.weight_ih",
    "decode_step.weight_hh": "lstm.weight_hh",
    "decode_step.bias_ih": "lstm.bias_ih",
    "decode_step.bias_hh": "lstm.bias_hh",
    "init_h.weight": "init_hidden.weight",
    "init_h.bias": "init_hidden.bias",
    "init_c.weight": "init_cell.weight",
    "init_c.bias": "init_cell.bias",
    "f_beta.weight": "gate.weight",
    "f_beta.bias": "gate.bias",
    "fc.weight": "word_classifier.weight",
    "fc.bias": "word_classifier.bias",
}
FOLDED_DECODER_KEY = "attention.decoder_att.bias"

# torchvision ResNet inside the tutorial's nn.Sequential(*list(resnet.children())[:-2]):
# 0 conv1, 1 bn1, 2 relu, 3 maxpool, 4-7 layer1-layer4. Blocks: conv{i}/bn{i} (i = 1, 2[, 3]) and
# downsample.0 (1x1 conv) / downsample.1 (BN). transformers' ResNetBackbone: embedder.embedder.* is
# the stem, encoder.stages.{s}.layers.{b}.layer.{i-1}.* the block's convs and shortcut.* the
# projection. Both put a bottleneck's stride on the 3x3 conv (torchvision v1.5; transformers'
# downsample_in_bottleneck=False), and layer1 does not downsample (downsample_in_first_stage=False).
BACKBONE_PREFIX = "image_encoder.backbone."
BATCH_NORM = r"(?P<p>weight|bias|running_mean|running_var|num_batches_tracked)"
ENCODER_PATTERNS = [
    (r"resnet\.0\.weight", "embedder.embedder.convolution.weight"),
    (rf"resnet\.1\.{BATCH_NORM}", "embedder.embedder.normalization.{p}"),
    (r"resnet\.(?P<s>[4-7])\.(?P<b>\d+)\.conv(?P<i>[1-3])\.weight", "encoder.stages.{s}.layers.{b}.layer.{i}.convolution.weight"),
    (rf"resnet\.(?P<s>[4-7])\.(?P<b>\d+)\.bn(?P<i>[1-3])\.{BATCH_NORM}", "encoder.stages.{s}.layers.{b}.layer.{i}.normalization.{p}"),
    (r"resnet\.(?P<s>[4-7])\.(?P<b>\d+)\.downsample\.0\.weight", "encoder.stages.{s}.layers.{b}.shortcut.convolution.weight"),
    (rf"resnet\.(?P<s>[4-7])\.(?P<b>\d+)\.downsample\.1\.{BATCH_NORM}", "encoder.stages.{s}.layers.{b}.shortcut.normalization.{p}"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="a torch file {'decoder': state_dict, 'encoder': state_dict} (see above), or the decoder's state dict alone"
    )
    parser.add_argument("--word_map", required=True, help="the tutorial's WORDMAP_*.json (word → id)")
    parser.add_argument(
        "--encoder",
        default="features",
        choices=ENCODERS,
        help="features: the model reads the tutorial encoder's 196x2048 annotations; resnet101: convert the ResNet too",
    )


def load_tutorial_state_dicts(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """``(decoder, encoder or None)`` state dicts from ``{'decoder': ..., 'encoder': ...}`` or from a
    bare decoder state dict, without DataParallel's ``module.`` prefix. A checkpoint of pickled
    modules (the tutorial's own files) is refused with the extraction recipe."""
    try:
        checkpoint = load_original_checkpoint(path)
    except ValueError as error:
        if "weights_only" not in str(error):
            raise
        raise ValueError(f"{path} pickles objects, not only tensors. {extraction_help(path)}") from None

    def tensors_only(value, what: str) -> dict[str, torch.Tensor]:
        if not isinstance(value, dict) or not value or not all(isinstance(tensor, torch.Tensor) for tensor in value.values()):
            raise ValueError(f"{path}: {what} is not a state dict of tensors. {extraction_help()}")
        return strip_prefix(dict(value))

    if isinstance(checkpoint, dict) and "decoder" in checkpoint:
        encoder = checkpoint.get("encoder")
        return tensors_only(checkpoint["decoder"], "'decoder'"), None if encoder is None else tensors_only(encoder, "'encoder'")
    return tensors_only(checkpoint, "the file (neither {'decoder': ..., 'encoder': ...} nor a decoder state dict)"), None


def read_word_map(path: str | Path) -> dict[str, int]:
    """The tutorial's word map: ids 0..N-1, each once, with ``<pad>``, ``<unk>``, ``<start>``, ``<end>``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"word map not found: {path}")
    word_map = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(word_map, dict) or not all(isinstance(index, int) for index in word_map.values()):
        raise ValueError(f"{path} must hold a JSON object word → integer id, as the tutorial's WORDMAP_*.json")
    if sorted(word_map.values()) != list(range(len(word_map))):
        raise ValueError(f"{path}: the ids must be 0..{len(word_map) - 1}, each used once")
    missing = [token for token in SPECIAL_TOKENS.values() if token not in word_map]
    if missing:
        raise ValueError(f"{path} lacks the tutorial's special tokens {missing}")
    return word_map


def _shape(state: dict[str, torch.Tensor], key: str, what: str) -> tuple[int, ...]:
    if key not in state:
        raise ValueError(f"the {what} state dict has no {key!r}: is it the tutorial's {what}?")
    return tuple(state[key].shape)


def resnet_backbone_config(encoder_state: dict[str, torch.Tensor]) -> ResNetConfig:
    """A transformers ResNetConfig with the depths and widths of the tutorial's torchvision ResNet
    (ResNet-101: depths [3, 4, 23, 3], widths 256..2048, bottleneck blocks), last stage out."""
    stem_channels = _shape(encoder_state, "resnet.0.weight", "encoder")[0]
    depths, widths = [], []
    bottleneck = "resnet.4.0.conv3.weight" in encoder_state
    last_conv = "conv3" if bottleneck else "conv2"
    for stage in range(4, 8):
        blocks = {int(match.group(1)) for key in encoder_state if (match := re.match(rf"resnet\.{stage}\.(\d+)\.", key))}
        if not blocks or blocks != set(range(len(blocks))):
            raise ValueError(f"the encoder state dict has no complete resnet.{stage} (layer{stage - 3}): is it the tutorial's Encoder?")
        depths.append(len(blocks))
        widths.append(_shape(encoder_state, f"resnet.{stage}.0.{last_conv}.weight", "encoder")[0])
    return ResNetConfig(
        embedding_size=stem_channels,
        hidden_sizes=widths,
        depths=depths,
        layer_type="bottleneck" if bottleneck else "basic",
        hidden_act="relu",
        downsample_in_first_stage=False,
        downsample_in_bottleneck=False,
        out_features=["stage4"],
    )


def infer_config(
    decoder_state: dict[str, torch.Tensor], word_map: dict[str, int], encoder_state: dict[str, torch.Tensor] | None = None
) -> ShowAttendTellConfig:
    """The ``"sgrvinod"`` preset with the sizes of the checkpoint; the ResNet backbone when
    ``encoder_state`` is given, else precomputed features."""
    vocab_size, embedding_size = _shape(decoder_state, "embedding.weight", "decoder")
    attention_size, annotation_size = _shape(decoder_state, "attention.encoder_att.weight", "decoder")
    hidden_size = _shape(decoder_state, "decode_step.weight_hh", "decoder")[1]
    if len(word_map) != vocab_size:
        raise ValueError(f"the word map has {len(word_map)} words but the decoder's embedding has {vocab_size} rows")
    sizes = dict(
        vocab_size=vocab_size,
        pad_token_id=word_map[SPECIAL_TOKENS["pad_token"]],
        bos_token_id=word_map[SPECIAL_TOKENS["bos_token"]],
        eos_token_id=word_map[SPECIAL_TOKENS["eos_token"]],
        embedding_size=embedding_size,
        hidden_size=hidden_size,
        attention_size=attention_size,
        image_feature_size=annotation_size,
    )
    if encoder_state is None:
        sizes.update(image_encoder="features")
    else:
        backbone_config = resnet_backbone_config(encoder_state)
        if backbone_config.hidden_sizes[-1] != annotation_size:
            raise ValueError(f"the ResNet gives {backbone_config.hidden_sizes[-1]} channels but the decoder reads {annotation_size}")
        sizes.update(image_encoder="backbone", backbone_config=backbone_config, freeze_backbone=True, image_grid_pool_size=[14, 14])
    return ShowAttendTellConfig.from_preset("sgrvinod", **sizes)


def convert_decoder_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our names for DecoderWithAttention's tensors, ``decoder_att.bias`` folded into the annotation
    projection's bias (both are added before the ReLU, so this is exact); unknown keys are an error."""
    expected = set(DECODER_KEYS) | {FOLDED_DECODER_KEY}
    missing, unknown = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unknown:
        raise ValueError(
            "the decoder state dict is not the tutorial's DecoderWithAttention: "
            f"{len(missing)} tensors missing {missing}, {len(unknown)} unknown {unknown}"
        )
    converted = {DECODER_KEYS[key]: tensor for key, tensor in state.items() if key in DECODER_KEYS}
    converted["attention_annotations.bias"] = converted["attention_annotations.bias"] + state[FOLDED_DECODER_KEY]
    return converted


def convert_encoder_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our names for the tutorial Encoder's torchvision ResNet tensors (see ENCODER_PATTERNS);
    unknown keys are an error."""
    converted, unknown = {}, []
    for key, tensor in state.items():
        for pattern, target in ENCODER_PATTERNS:
            match = re.fullmatch(pattern, key)
            if match:
                groups = match.groupdict()
                if "s" in groups:
                    groups["s"] = int(groups["s"]) - 4  # layer1 is resnet.4
                if "i" in groups:
                    groups["i"] = int(groups["i"]) - 1  # conv1 is layer.0
                converted[BACKBONE_PREFIX + target.format(**groups)] = tensor
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"{len(unknown)} tensors of the encoder state dict are not a torchvision ResNet's conv1/bn1/layer1-4: {sorted(unknown)}")
    return converted


def build_processor(word_map: dict[str, int]) -> CaptioningProcessor:
    """The tutorial's preprocessing (256x256, ImageNet mean/std) and a tokenizer with its word ids."""
    image_processor = square_image_processor(IMAGE_SIZE, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
    tokenizer = wrap_caption_tokenizer(dict(word_map), max_length=MAX_CAPTION_WORDS)
    return CaptioningProcessor(image_processor, tokenizer)


def convert_checkpoint(
    decoder_state: dict[str, torch.Tensor], word_map: dict[str, int], encoder_state: dict[str, torch.Tensor] | None = None
) -> ShowAttendTellForConditionalGeneration:
    """The converted model (eval mode) with the tutorial's generation defaults."""
    config = infer_config(decoder_state, word_map, encoder_state)
    model = ShowAttendTellForConditionalGeneration(config)
    state = convert_decoder_state_dict(decoder_state)
    if encoder_state is not None:
        state.update(convert_encoder_state_dict(encoder_state))
    load_converted_state_dict(model, state)
    model.generation_config.update(max_new_tokens=MAX_GENERATED_WORDS, num_beams=BEAM_SIZE, length_penalty=0.0, early_stopping=True)
    return model.eval()


def convert(args: argparse.Namespace) -> Path:
    decoder_state, encoder_state = load_tutorial_state_dicts(args.checkpoint)
    if args.encoder == "resnet101" and encoder_state is None:
        raise ValueError(f"--encoder resnet101 needs the encoder's weights: {args.checkpoint} has no 'encoder'. {extraction_help()}")
    word_map = read_word_map(args.word_map)
    model = convert_checkpoint(decoder_state, word_map, encoder_state if args.encoder == "resnet101" else None)
    notes = {
        "original_code": "sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning",
        "preset": "sgrvinod",
        "encoder": args.encoder,
        "inputs": (
            "pixel_values: 256x256 images, ImageNet mean/std; ResNet feature map pooled to 14x14"
            if args.encoder == "resnet101"
            else "image_features (batch, 196, 2048): the tutorial Encoder's (batch, 14, 14, 2048) output flattened row by row"
        ),
        "folded": "attention.decoder_att.bias added to attention_annotations.bias (exact)",
        "generation": f"beam {BEAM_SIZE}, at most {MAX_GENERATED_WORDS} words, length_penalty 0 (caption.py ranks by summed log-probability)",
    }
    return save_converted_folder(model, build_processor(word_map), args.output_dir, source=str(args.checkpoint), notes=notes)


__all__ = [
    "add_arguments",
    "convert",
    "convert_checkpoint",
    "convert_decoder_state_dict",
    "convert_encoder_state_dict",
    "infer_config",
    "load_tutorial_state_dicts",
    "read_word_map",
    "resnet_backbone_config",
    "build_processor",
]

"""Converter of sgrvinod's PyTorch tutorial (Show, Attend and Tell) on fake checkpoints in the tutorial's
key layout. The tutorial's code is not imported: its decoder step and torchvision's ResNet forward are
written out below from models.py and torchvision's Bottleneck."""

import json
import re

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForImageTextToText, AutoProcessor, ResNetConfig, ResNetModel

import hf_mmattn  # noqa: F401  (registers the Auto classes)
from hf_mmattn.convert import main as convert_main
from hf_mmattn.models.show_attend_tell.convert_show_attend_tell import (
    build_processor,
    convert_checkpoint,
    load_tutorial_state_dicts,
    read_word_map,
)

WORDS = ["a", "man", "dog", "riding", "on", "the", "red", "bench"]
EMBED, HIDDEN, ATTENTION, ANNOTATION = 6, 7, 5, 40


def tutorial_word_map() -> dict[str, int]:
    """create_input_files.py's layout: words from 1, then <unk>, <start>, <end>; <pad> 0."""
    word_map = {word: index + 1 for index, word in enumerate(WORDS)}
    for token in ("<unk>", "<start>", "<end>"):
        word_map[token] = len(word_map) + 1
    word_map["<pad>"] = 0
    return word_map


def tutorial_decoder_state(vocab_size: int, annotation_size: int = ANNOTATION, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with DecoderWithAttention's names and shapes."""
    generator = torch.Generator().manual_seed(seed)
    shapes = {
        "attention.encoder_att.weight": (ATTENTION, annotation_size),
        "attention.encoder_att.bias": (ATTENTION,),
        "attention.decoder_att.weight": (ATTENTION, HIDDEN),
        "attention.decoder_att.bias": (ATTENTION,),
        "attention.full_att.weight": (1, ATTENTION),
        "attention.full_att.bias": (1,),
        "embedding.weight": (vocab_size, EMBED),
        "decode_step.weight_ih": (4 * HIDDEN, EMBED + annotation_size),
        "decode_step.weight_hh": (4 * HIDDEN, HIDDEN),
        "decode_step.bias_ih": (4 * HIDDEN,),
        "decode_step.bias_hh": (4 * HIDDEN,),
        "init_h.weight": (HIDDEN, annotation_size),
        "init_h.bias": (HIDDEN,),
        "init_c.weight": (HIDDEN, annotation_size),
        "init_c.bias": (HIDDEN,),
        "f_beta.weight": (annotation_size, HIDDEN),
        "f_beta.bias": (annotation_size,),
        "fc.weight": (vocab_size, HIDDEN),
        "fc.bias": (vocab_size,),
    }
    return {key: torch.randn(shape, generator=generator) * 0.5 for key, shape in shapes.items()}


def linear(state, name, x):
    return x @ state[f"{name}.weight"].double().T + state[f"{name}.bias"].double()


def tutorial_decode(state, encoder_out: torch.Tensor, captions: torch.Tensor):
    """DecoderWithAttention written out (models.py), teacher-forced, float64: the logits of every
    position and the attention maps. encoder_out: (batch, pixels, dim)."""
    encoder_out = encoder_out.double()
    mean = encoder_out.mean(dim=1)
    h, c = linear(state, "init_h", mean), linear(state, "init_c", mean)
    logits, alphas = [], []
    for t in range(captions.shape[1]):
        att = linear(state, "attention.encoder_att", encoder_out) + linear(state, "attention.decoder_att", h).unsqueeze(1)
        alpha = torch.softmax(linear(state, "attention.full_att", att.relu()).squeeze(2), dim=1)
        context = (encoder_out * alpha.unsqueeze(2)).sum(dim=1) * torch.sigmoid(linear(state, "f_beta", h))
        x = torch.cat([state["embedding.weight"].double()[captions[:, t]], context], dim=1)
        gates = (
            x @ state["decode_step.weight_ih"].double().T + state["decode_step.bias_ih"].double()
            + h @ state["decode_step.weight_hh"].double().T + state["decode_step.bias_hh"].double()
        )
        i, f, g, o = gates.chunk(4, dim=1)  # nn.LSTMCell's packing
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        logits.append(linear(state, "fc", h))
        alphas.append(alpha)
    return torch.stack(logits, dim=1), torch.stack(alphas, dim=1)


def encode(word_map, *captions: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Tutorial-style encoded captions (<start> words <end> <pad>...) and their mask."""
    rows = [[word_map["<start>"], *(word_map[w] for w in caption.split()), word_map["<end>"]] for caption in captions]
    ids = torch.full((len(rows), max(map(len, rows))), word_map["<pad>"])
    for index, row in enumerate(rows):
        ids[index, : len(row)] = torch.tensor(row)
    return ids, (ids != word_map["<pad>"]).long()


CAPTIONS = ("a man riding a red bench", "the dog on the bench", "a dog")


# --- the decoder ----------------------------------------------------------------------------------


def test_converted_decoder_computes_the_tutorials_decoder_step():
    word_map = tutorial_word_map()
    state = tutorial_decoder_state(len(word_map))
    model = convert_checkpoint(state, word_map).double()
    annotations = torch.randn(3, 16, ANNOTATION, generator=torch.Generator().manual_seed(1)).relu()
    ids, mask = encode(word_map, *CAPTIONS)
    with torch.no_grad():
        output = model(input_ids=ids, attention_mask=mask, image_features=annotations.double(), output_attentions=True)
    expected_logits, expected_alphas = tutorial_decode(state, annotations, ids)
    alphas = torch.stack(output.attentions, dim=1)
    for row, length in enumerate(mask.sum(dim=1).tolist()):
        # The folded bias encoder_att.bias + decoder_att.bias is one float32 rounding.
        torch.testing.assert_close(output.logits[row, :length], expected_logits[row, :length], atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(alphas[row, :length], expected_alphas[row, :length], atol=1e-6, rtol=1e-6)
    # The fold: our W_a a + b (bias-free W_h h) carries both of the tutorial's attention biases.
    torch.testing.assert_close(
        model.attention_annotations.bias.float(), state["attention.encoder_att.bias"] + state["attention.decoder_att.bias"]
    )
    assert model.attention_state.bias is None and not model.training


def test_config_comes_from_the_shapes_the_preset_and_the_word_map():
    word_map = tutorial_word_map()
    model = convert_checkpoint(tutorial_decoder_state(len(word_map)), word_map)
    config = model.config
    assert (config.vocab_size, config.embedding_size, config.hidden_size, config.attention_size, config.image_feature_size) == (
        len(word_map), EMBED, HIDDEN, ATTENTION, ANNOTATION,
    )
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (0, len(WORDS) + 2, len(WORDS) + 3)
    assert config.image_encoder == "features"
    assert (config.attention_activation, config.gate, config.init_state_activation, config.deep_output) == ("relu", "vector", "none", False)
    generation = model.generation_config
    assert (generation.num_beams, generation.max_new_tokens, generation.length_penalty, generation.eos_token_id) == (5, 51, 0.0, len(WORDS) + 3)


def test_decoder_keys_shapes_and_word_maps_that_do_not_fit_are_refused(tmp_path):
    word_map = tutorial_word_map()
    state = tutorial_decoder_state(len(word_map))
    missing = {k: v for k, v in state.items() if k != "attention.decoder_att.bias"}
    with pytest.raises(ValueError, match=r"1 tensors missing \['attention.decoder_att.bias'\], 0 unknown"):
        convert_checkpoint(missing, word_map)
    with pytest.raises(ValueError, match=r"0 tensors missing \[\], 1 unknown \['deep_output.weight'\]"):
        convert_checkpoint({**state, "deep_output.weight": torch.zeros(2)}, word_map)
    with pytest.raises(ValueError, match=r"gate.weight: checkpoint \(40, 4\) vs model \(40, 7\)"):
        convert_checkpoint({**state, "f_beta.weight": torch.zeros(ANNOTATION, 4)}, word_map)
    with pytest.raises(ValueError, match="the word map has 11 words but the decoder's embedding has 12 rows"):
        convert_checkpoint(state, {k: v for k, v in word_map.items() if k != "bench"} | {"<end>": 10})

    def write(content) -> str:
        path = tmp_path / "WORDMAP.json"
        path.write_text(json.dumps(content))
        return str(path)

    assert read_word_map(write(word_map)) == word_map
    with pytest.raises(ValueError, match=r"lacks the tutorial's special tokens \['<start>'\]"):
        read_word_map(write({k: v for k, v in word_map.items() if k != "<start>"} | {"boat": word_map["<start>"]}))
    with pytest.raises(ValueError, match="ids must be 0..11, each used once"):
        read_word_map(write({**word_map, "man": 1}))
    with pytest.raises(FileNotFoundError):
        read_word_map(tmp_path / "absent.json")


def test_tokenizer_keeps_the_word_map_ids():
    word_map = tutorial_word_map()
    processor = build_processor(word_map)
    tokenizer = processor.tokenizer
    assert tokenizer.get_vocab() == word_map
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 9, 10, 11)
    batch = processor(text=["A man riding a zebra"], add_end_token=True)
    assert batch["input_ids"].tolist() == [[10, 1, 2, 4, 1, 9, 11]]  # zebra → <unk>
    assert processor.post_process_image_text_to_text(batch["input_ids"]) == ["a man riding a"]
    image_processor = processor.image_processor
    assert image_processor.size == {"height": 256, "width": 256}
    assert list(image_processor.image_mean) == [0.485, 0.456, 0.406] and list(image_processor.image_std) == [0.229, 0.224, 0.225]


def test_the_tutorials_pickled_checkpoint_is_refused_with_the_extraction_recipe(tmp_path):
    word_map = tutorial_word_map()
    state = tutorial_decoder_state(len(word_map))
    torch.save({"epoch": 3, "decoder": torch.nn.LSTMCell(2, 2), "encoder": None}, tmp_path / "BEST_checkpoint.pth.tar")
    with pytest.raises(ValueError, match=r"(?s)pickles objects.*weights_only=False\).*ckpt\['decoder'\]\.state_dict\(\).*sat_state_dicts\.pt") as error:
        load_tutorial_state_dicts(tmp_path / "BEST_checkpoint.pth.tar")
    assert f"torch.load('{tmp_path / 'BEST_checkpoint.pth.tar'}', weights_only=False)" in str(error.value)

    torch.save({"decoder": state, "encoder": {"module.resnet.0.weight": torch.zeros(1)}}, tmp_path / "both.pt")
    decoder, encoder = load_tutorial_state_dicts(tmp_path / "both.pt")
    assert decoder.keys() == state.keys() and list(encoder) == ["resnet.0.weight"]  # DataParallel prefix dropped
    torch.save(state, tmp_path / "decoder_only.pt")
    assert load_tutorial_state_dicts(tmp_path / "decoder_only.pt")[1] is None
    torch.save({"decoder": {"embedding.weight": [1, 2]}}, tmp_path / "lists.pt")
    with pytest.raises(ValueError, match="'decoder' is not a state dict of tensors"):
        load_tutorial_state_dicts(tmp_path / "lists.pt")

    (tmp_path / "WORDMAP.json").write_text(json.dumps(word_map))
    with pytest.raises(ValueError, match="--encoder resnet101 needs the encoder's weights"):
        convert_main(["show_attend_tell", "--checkpoint", str(tmp_path / "decoder_only.pt"), "--word_map", str(tmp_path / "WORDMAP.json"),
                      "--output_dir", str(tmp_path / "out"), "--encoder", "resnet101"])


# --- the encoder: torchvision ResNet → transformers ResNet ----------------------------------------

TINY_RESNET = dict(embedding_size=8, hidden_sizes=[16, 24, 32, ANNOTATION], depths=[2, 1, 1, 1], layer_type="bottleneck")


def torchvision_key(key: str) -> str:
    """transformers ResNetModel key → the tutorial Encoder's key (nn.Sequential of torchvision's
    conv1, bn1, relu, maxpool, layer1..layer4), written from torchvision's module names."""
    stem = {"embedder.embedder.convolution.": "resnet.0.", "embedder.embedder.normalization.": "resnet.1."}
    for ours, theirs in stem.items():
        if key.startswith(ours):
            return theirs + key.removeprefix(ours)
    stage, block, rest = re.fullmatch(r"encoder\.stages\.(\d)\.layers\.(\d+)\.(.*)", key).groups()
    prefix = f"resnet.{int(stage) + 4}.{block}."
    if rest.startswith("shortcut.convolution."):
        return prefix + "downsample.0." + rest.removeprefix("shortcut.convolution.")
    if rest.startswith("shortcut.normalization."):
        return prefix + "downsample.1." + rest.removeprefix("shortcut.normalization.")
    conv, module, parameter = re.fullmatch(r"layer\.(\d)\.(convolution|normalization)\.(.*)", rest).groups()
    return prefix + ("conv" if module == "convolution" else "bn") + f"{int(conv) + 1}.{parameter}"


def tutorial_encoder_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision-layout ResNet state dict (random weights and BatchNorm statistics), made from a
    tiny transformers ResNet with keys renamed by ``torchvision_key``."""
    torch.manual_seed(seed)
    resnet = ResNetModel(ResNetConfig(**TINY_RESNET))
    state = {}
    for key, tensor in resnet.state_dict().items():
        if key.endswith(("running_mean", "bias")):
            tensor = torch.randn_like(tensor) * 0.1
        elif key.endswith(("running_var", ".normalization.weight")):
            tensor = torch.rand_like(tensor) + 0.5
        elif key.endswith("num_batches_tracked"):
            tensor = torch.tensor(7)
        state[torchvision_key(key)] = tensor
    return state


def batch_norm(x, state, prefix):
    return F.batch_norm(x, state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"], state[f"{prefix}.weight"], state[f"{prefix}.bias"])


def torchvision_bottleneck(x, state, prefix, stride):
    """torchvision's Bottleneck (v1.5: the stride on the 3x3 conv)."""
    out = batch_norm(F.conv2d(x, state[f"{prefix}.conv1.weight"]), state, f"{prefix}.bn1").relu()
    out = batch_norm(F.conv2d(out, state[f"{prefix}.conv2.weight"], stride=stride, padding=1), state, f"{prefix}.bn2").relu()
    out = batch_norm(F.conv2d(out, state[f"{prefix}.conv3.weight"]), state, f"{prefix}.bn3")
    if f"{prefix}.downsample.0.weight" in state:
        x = batch_norm(F.conv2d(x, state[f"{prefix}.downsample.0.weight"], stride=stride), state, f"{prefix}.downsample.1")
    return (out + x).relu()


def tutorial_encoder(state, images, grid: int = 14):
    """The tutorial's Encoder.forward: ResNet without pool/fc, AdaptiveAvgPool2d(14), channels last,
    flattened as DecoderWithAttention does."""
    x = batch_norm(F.conv2d(images, state["resnet.0.weight"], stride=2, padding=3), state, "resnet.1").relu()
    x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    for stage in range(4, 8):
        blocks = sorted({int(k.split(".")[2]) for k in state if k.startswith(f"resnet.{stage}.")})
        for block in blocks:
            x = torchvision_bottleneck(x, state, f"resnet.{stage}.{block}", stride=2 if stage > 4 and block == 0 else 1)
    x = F.adaptive_avg_pool2d(x, (grid, grid)).permute(0, 2, 3, 1)
    return x.reshape(x.shape[0], -1, x.shape[-1])


def test_resnet_encoder_keys_map_completely_onto_the_transformers_backbone():
    word_map = tutorial_word_map()
    encoder_state = tutorial_encoder_state()
    model = convert_checkpoint(tutorial_decoder_state(len(word_map)), word_map, encoder_state)
    backbone = model.config.backbone_config
    assert (backbone.depths, backbone.hidden_sizes, backbone.embedding_size, backbone.layer_type) == ([2, 1, 1, 1], [16, 24, 32, ANNOTATION], 8, "bottleneck")
    assert backbone.downsample_in_bottleneck is False and backbone.out_features == ["stage4"]
    assert (model.config.image_encoder, model.config.image_grid_pool_size, model.config.freeze_backbone) == ("backbone", [14, 14], True)
    converted = {key.removeprefix("image_encoder.backbone."): tensor for key, tensor in model.state_dict().items() if "backbone" in key}
    # Every backbone tensor came from the checkpoint, one to one (load_converted_state_dict is strict).
    assert len(converted) == len(encoder_state)
    for key, tensor in converted.items():
        assert torch.equal(tensor, encoder_state[torchvision_key(key)]), key
    with pytest.raises(ValueError, match=r"not a torchvision ResNet's conv1/bn1/layer1-4: \['resnet.8.0.conv1.weight'\]"):
        convert_checkpoint(tutorial_decoder_state(len(word_map)), word_map, {**encoder_state, "resnet.8.0.conv1.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="the ResNet gives 40 channels but the decoder reads 48"):
        convert_checkpoint(tutorial_decoder_state(len(word_map), annotation_size=48), word_map, encoder_state)


def test_converted_resnet_computes_the_tutorials_encoder_and_bottleneck():
    word_map = tutorial_word_map()
    encoder_state = tutorial_encoder_state()
    decoder_state = tutorial_decoder_state(len(word_map))
    model = convert_checkpoint(decoder_state, word_map, encoder_state)
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        # One block by hand: layer2's first bottleneck, with its stride-2 projection shortcut.
        block_input = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(3))
        block = model.image_encoder.backbone.encoder.stages[1].layers[0]
        torch.testing.assert_close(block(block_input), torchvision_bottleneck(block_input, encoder_state, "resnet.5.0", stride=2))
        # The whole encoder: a 2x2 map (64 / 32) pooled adaptively to 14x14 as the tutorial does.
        regions, _, grid_size = model.image_encoder(images, None, None)
        expected = tutorial_encoder(encoder_state, images)
        torch.testing.assert_close(regions, expected, atol=1e-5, rtol=1e-5)
        assert grid_size == (14, 14) and regions.shape == (2, 196, ANNOTATION)
        ids, mask = encode(word_map, *CAPTIONS[:2])
        logits = model(input_ids=ids, attention_mask=mask, pixel_values=images).logits
    expected_logits, _ = tutorial_decode(decoder_state, expected, ids)
    for row, length in enumerate(mask.sum(dim=1).tolist()):
        torch.testing.assert_close(logits[row, :length].double(), expected_logits[row, :length], atol=1e-4, rtol=1e-4)


# --- the command line and the saved folder --------------------------------------------------------


@pytest.mark.parametrize("encoder", ["features", "resnet101"])
def test_converted_folder_loads_with_the_auto_classes_and_generates(tmp_path, encoder):
    word_map = tutorial_word_map()
    decoder_state, encoder_state = tutorial_decoder_state(len(word_map)), tutorial_encoder_state()
    torch.save({"decoder": decoder_state, "encoder": encoder_state}, tmp_path / "sat_state_dicts.pt")
    (tmp_path / "WORDMAP.json").write_text(json.dumps(word_map))
    output = convert_main([
        "show_attend_tell", "--checkpoint", str(tmp_path / "sat_state_dicts.pt"), "--word_map", str(tmp_path / "WORDMAP.json"),
        "--output_dir", str(tmp_path / "converted"), "--encoder", encoder,
    ])
    model = AutoModelForImageTextToText.from_pretrained(output).eval()
    processor = AutoProcessor.from_pretrained(output)
    assert type(model).__name__ == "ShowAttendTellForConditionalGeneration"
    assert processor.tokenizer.get_vocab() == word_map
    notes = json.loads((output / "conversion.json").read_text())
    assert notes["original_code"] == "sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning" and notes["encoder"] == encoder
    assert (output / "README.md").is_file()

    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    if encoder == "features":
        annotations = torch.rand(2, 16, ANNOTATION, generator=torch.Generator().manual_seed(5))
        image_inputs = {"image_features": annotations}
    else:
        image_inputs = {"pixel_values": images}
        annotations = tutorial_encoder(encoder_state, images)
    prompt = processor(text=["", ""])
    assert prompt["input_ids"].tolist() == [[word_map["<start>"]]] * 2
    with torch.no_grad():
        generated = model.generate(**prompt, **image_inputs, num_beams=1, do_sample=False, max_new_tokens=6)
    # The same captions from the tutorial's decoder step written out, greedily.
    sequences = torch.full((2, 1), word_map["<start>"])
    for _ in range(6):
        logits, _ = tutorial_decode(decoder_state, annotations, sequences)
        sequences = torch.cat([sequences, logits[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
    for row, expected in zip(generated.tolist(), sequences.tolist(), strict=True):
        end = expected.index(word_map["<end>"]) + 1 if word_map["<end>"] in expected else len(expected)
        assert row[:end] == expected[:end]
    assert len(processor.post_process_image_text_to_text(generated)) == 2
    with torch.no_grad():
        beams = model.generate(**prompt, **image_inputs, max_new_tokens=6)  # the folder's defaults: beam 5
    assert beams.shape[0] == 2 and beams[:, 0].tolist() == [word_map["<start>"]] * 2

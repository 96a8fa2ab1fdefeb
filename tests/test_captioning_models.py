"""Show and Tell and Show, Attend and Tell (soft, hard, the "sgrvinod" PyTorch-tutorial preset):
configs, models and processors round-trip through the Auto classes; invalid settings and presets
are refused; the presets and arctic-captions' initialisation draw what the released code draws."""

from __future__ import annotations

import pytest
import torch
from captioning_utils import (
    END,
    KINDS,
    PAD,
    START,
    UNK,
    VOCAB,
    caption_processor,
    make_captioner,
    model_class,
    random_captions,
    random_images,
    start_prompt,
    tiny_config,
)
from PIL import Image
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageTextToText,
    AutoProcessor,
    PreTrainedTokenizerFast,
)

from hf_mmattn import (
    CaptioningProcessor,
    ShowAttendTellConfig,
    ShowAttendTellForConditionalGeneration,
    VQAImageProcessor,
)


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trips_through_auto_config(kind, tmp_path):
    config = tiny_config(kind, "scratch_cnn", bos_token_id=START, eos_token_id=END)
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert type(loaded) is type(config)
    saved_fields = {key: value for key, value in config.to_dict().items() if key != "_name_or_path"}
    assert {key: value for key, value in loaded.to_dict().items() if key != "_name_or_path"} == saved_fields
    if kind == "sgrvinod":
        switches = (loaded.attention_activation, loaded.gate, loaded.deep_output, loaded.caption_loss_reduction)
        assert switches == ("relu", "vector", False, "token")
        assert loaded.image_grid_pool_size == [2, 2]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("image_encoder", ["features", "scratch_cnn"])
def test_model_round_trips_through_every_auto_class(kind, image_encoder, tmp_path):
    model = make_captioner(kind, image_encoder=image_encoder)
    if kind == "hard":
        model.baseline.value.fill_(-2.5)  # the REINFORCE baseline is saved with the weights
    model.save_pretrained(tmp_path)
    images = random_images(model.config, seed=1)
    captions = random_captions()
    with torch.no_grad():
        expected = model(**images, input_ids=captions["input_ids"], attention_mask=captions["attention_mask"]).logits
    for loader in (AutoModel, AutoModelForImageTextToText, model_class(kind)):
        loaded = loader.from_pretrained(tmp_path).eval()
        assert type(loaded) is model_class(kind)
        loaded_state = loaded.state_dict()
        assert loaded_state.keys() == model.state_dict().keys()
        assert all(torch.equal(loaded_state[name], tensor) for name, tensor in model.state_dict().items())
        with torch.no_grad():
            actual = loaded(**images, input_ids=captions["input_ids"], attention_mask=captions["attention_mask"]).logits
        # The same weights; transformers >= 5.25 may load them at an address of another alignment,
        # where the CPU kernels sum in another order: equal to float32 rounding, not bitwise.
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
        if kind == "hard":
            assert loaded.baseline.value.item() == -2.5
    generated = AutoModelForImageTextToText.from_pretrained(tmp_path).generate(input_ids=start_prompt(3), **images, max_new_tokens=5)
    assert torch.equal(generated, model.generate(input_ids=start_prompt(3), **images, max_new_tokens=5))


def test_processor_round_trips_through_auto_processor(tmp_path):
    processor = caption_processor()
    processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is CaptioningProcessor and type(loaded.image_processor) is VQAImageProcessor
    assert isinstance(loaded.tokenizer, PreTrainedTokenizerFast)
    assert loaded.tokenizer.get_vocab() == VOCAB
    tokenizer = loaded.tokenizer
    assert [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id] == [PAD, UNK, START, END]
    images = [Image.new("RGB", (20, 12), (200, 10, 10)), Image.new("L", (9, 9), 77)]
    captions = ["A red circle above the blue square.", "a purple thing"]
    expected = processor(images=images, text=captions, add_end_token=True)
    actual = loaded(images=images, text=captions, add_end_token=True)
    for key in ("input_ids", "attention_mask", "labels", "pixel_values"):
        assert torch.equal(actual[key], expected[key]), key
    # The ids by hand: start, words (unknown "purple", "thing" and "." → <unk>), end, padding.
    ids = [VOCAB[w] for w in "a red circle above the blue square".split()]
    assert actual["input_ids"][0].tolist() == [START, *ids, UNK, END]
    assert actual["input_ids"][1].tolist() == [START, VOCAB["a"], UNK, UNK, END] + [PAD] * 5
    assert actual["labels"][1].tolist() == [START, VOCAB["a"], UNK, UNK, END] + [-100] * 5
    # Decoding drops the special tokens, <unk> included.
    assert loaded.post_process_image_text_to_text(actual["input_ids"][:1]) == ["a red circle above the blue square"]


@pytest.mark.parametrize(
    "kind, overrides, message",
    [
        ("soft", {"gate": "bogus"}, "gate must be one of"),
        ("soft", {"attention_type": "medium"}, "attention_type must be one of"),
        ("soft", {"attention_activation": "gelu"}, "attention_activation must be one of"),
        ("soft", {"attention_penalty_reduction": "max"}, "attention_penalty_reduction must be one of"),
        ("hard", {"expected_attention_probability": 1.5}, "expected_attention_probability must be in"),
        ("hard", {"baseline_decay": 1.0}, "baseline_decay must be in"),
        ("hard", {"hard_attention_inference": "sample"}, "hard_attention_inference must be one of"),
        ("hard", {"reinforce_normalization": "sum"}, "reinforce_normalization must be one of"),
        ("soft", {"initialization": "xavier"}, "initialization must be one of"),
        ("show_tell", {"caption_loss_reduction": "batch"}, "caption_loss_reduction must be one of"),
        ("show_tell", {"eos_token_id": None}, "needs bos_token_id"),
        ("show_tell", {"bos_token_id": len(VOCAB)}, "bos_token_id=16 is outside the vocabulary"),
    ],
)
def test_invalid_config_values_raise(kind, overrides, message):
    with pytest.raises(ValueError, match=message):
        model_class(kind)(tiny_config(kind, **overrides))


def test_unknown_preset_raises():
    with pytest.raises(ValueError, match="unknown Show, Attend and Tell preset 'xu2016'"):
        ShowAttendTellConfig.from_preset("xu2016")


# --- initialisation ------------------------------------------------------------------------------

def test_presets_follow_the_released_code():
    """The class defaults keep PyTorch's initialisation and the per-caption REINFORCE scale; the
    xu2015 presets draw the weights as arctic-captions does, and xu2015-hard weighs REINFORCE and
    the entropy on its scale; the PyTorch tutorial's preset keeps PyTorch's initialisation."""
    default = ShowAttendTellConfig()
    assert (default.initialization, default.reinforce_normalization) == ("pytorch", "mean")
    soft, hard = ShowAttendTellConfig.from_preset("xu2015-soft"), ShowAttendTellConfig.from_preset("xu2015-hard")
    assert (soft.attention_type, soft.initialization) == ("soft", "arctic")
    assert (hard.attention_type, hard.initialization, hard.reinforce_normalization) == ("hard", "arctic", "arctic")
    assert (hard.reinforce_weight, hard.entropy_weight) == (0.1, 0.002)
    assert ShowAttendTellConfig.from_preset("sgrvinod").initialization == "pytorch"


def assert_orthogonal(matrix: torch.Tensor, name: str) -> None:
    identity = torch.eye(matrix.shape[0], dtype=matrix.dtype)
    torch.testing.assert_close(matrix @ matrix.T, identity, rtol=0, atol=1e-5, msg=f"{name} is not orthogonal")


# Sizes that make arctic's norm_weight square (orthogonal) or not, for every decoder weight:
# (overrides, {parameter or parameter block: "orthogonal" or "normal"}). "square": E = H = attention
# = 8 and D = 4H = 32; "oblong": E = 6, H = 10, attention = D = 24 (attention_annotations is square
# but arctic's Wc_att is N(0, 0.01²) whatever its shape).
ARCTIC_LAYOUTS = {
    "square": (dict(embedding_size=8, hidden_size=8, attention_size=8, image_feature_size=32), {
        "embedding.weight": "normal", "init_hidden.weight": "normal", "init_cell.weight": "normal",
        "attention_annotations.weight": "normal", "attention_state.weight": "orthogonal", "attention_score.weight": "normal",
        "gate.weight": "normal", "lstm.weight_ih word": "orthogonal", "lstm.weight_ih context": "orthogonal",
        "lstm.weight_hh": "orthogonal", "output_hidden.weight": "orthogonal", "output_context.weight": "normal",
        "word_classifier.weight": "normal",
    }),
    "oblong": (dict(embedding_size=6, hidden_size=10, attention_size=24, image_feature_size=24), {
        "embedding.weight": "normal", "init_hidden.weight": "normal", "init_cell.weight": "normal",
        "attention_annotations.weight": "normal", "attention_state.weight": "normal", "attention_score.weight": "normal",
        "gate.weight": "normal", "lstm.weight_ih word": "normal", "lstm.weight_ih context": "normal",
        "lstm.weight_hh": "orthogonal", "output_hidden.weight": "normal", "output_context.weight": "normal",
        "word_classifier.weight": "normal",
    }),
}


@pytest.mark.parametrize("layout", sorted(ARCTIC_LAYOUTS))
def test_arctic_initialization_draws_what_capgen_draws(layout):
    """initialization="arctic" (capgen.py's init_params): every decoder weight orthogonal where
    norm_weight makes it square (the LSTM's input weights block by block: four (H, E) blocks for
    the word, one (4H, D) block for the context; its recurrent weight four orthogonal (H, H)
    blocks, one per gate, always), N(0, 0.01²) elsewhere, every decoder bias 0, the embedding's
    padding row 0, the REINFORCE baseline 0; the image encoder is not the decoder's business."""
    overrides, expected = ARCTIC_LAYOUTS[layout]
    torch.manual_seed(0)
    config = tiny_config("hard", initialization="arctic", **overrides)
    model = ShowAttendTellForConditionalGeneration(config)
    state = {name: tensor.detach() for name, tensor in model.state_dict().items()}
    embedding, hidden = config.embedding_size, config.hidden_size
    blocks = {
        "lstm.weight_ih word": [block for block in state["lstm.weight_ih"][:, :embedding].split(hidden)],
        "lstm.weight_ih context": [state["lstm.weight_ih"][:, embedding:]],
        "lstm.weight_hh": list(state["lstm.weight_hh"].split(hidden)),
    }
    normal = []
    for name, kind in expected.items():
        for matrix in blocks.get(name, [state.get(name)]):
            if name == "embedding.weight":
                assert (matrix[PAD] == 0).all()
                matrix = torch.cat([matrix[:PAD], matrix[PAD + 1:]])
            if kind == "orthogonal":
                assert matrix.shape[0] == matrix.shape[1], name
                assert_orthogonal(matrix, name)
            else:
                assert matrix.shape[0] != matrix.shape[1] or name == "attention_annotations.weight", name
                assert 0 < matrix.abs().max() < 6 * 0.01, name  # N(0, 0.01²): nothing beyond 6 standard deviations
                normal.append(matrix.flatten())
    normal = torch.cat(normal)
    assert normal.numel() > 500
    assert normal.std().item() == pytest.approx(0.01, rel=0.1) and abs(normal.mean().item()) < 0.002
    first, *others = blocks["lstm.weight_hh"]
    assert all(not torch.allclose(first, other) for other in others)  # four independent draws
    decoder_biases = [name for name in state if name.endswith(("bias", "bias_ih", "bias_hh")) and not name.startswith("image_encoder")]
    assert len(decoder_biases) == 10
    for name in decoder_biases:
        assert (state[name] == 0).all(), name
    assert state["baseline.value"] == 0
    decoder_weights = {name for name in state if "weight" in name and not name.startswith("image_encoder")}
    assert decoder_weights == {name.split(" ")[0] for name in expected}  # every decoder weight checked


def test_arctic_initialization_never_redraws_loaded_weights(tmp_path):
    """A saved arctic-initialised model loads with exactly its weights (from_pretrained runs
    _init_weights only on what the checkpoint lacks); its missing tensors get arctic's draw."""
    torch.manual_seed(0)
    model = ShowAttendTellForConditionalGeneration(tiny_config("hard", initialization="arctic"))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)  # "trained": far from any initialisation
    model.save_pretrained(tmp_path)
    loaded = ShowAttendTellForConditionalGeneration.from_pretrained(tmp_path)
    for (name, tensor), other in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(tensor, other), name
    state = {name: tensor for name, tensor in model.state_dict().items() if not name.startswith("lstm.")}
    partial = ShowAttendTellForConditionalGeneration.from_pretrained(None, config=model.config, state_dict=state)
    assert torch.equal(partial.word_classifier.weight, model.word_classifier.weight)
    assert (partial.lstm.bias_ih == 0).all() and (partial.lstm.bias_hh == 0).all()
    for block in partial.lstm.weight_hh.detach().split(model.config.hidden_size):
        assert_orthogonal(block, "lstm.weight_hh")

"""transformers' own model contract, as tests of every registered model (tests/common/zoo.py):
the properties transformers' common model tests check of its models, written for ours.

* every parameter and buffer is initialised when a checkpoint lacks it (``_init_weights``
  covers every layer type);
* input and output embeddings resize together, with the config;
* save/load round trips, sharded or not, through the Auto classes;
* ``output_attentions`` / ``output_hidden_states`` / ``return_dict``, from the call or the config;
* evaluation is deterministic; a training step lowers the loss;
* bf16 / fp16 loading; unknown or unsupported arguments are refused.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import clear_initialised_flags, poison
from transformers import AutoConfig, AutoModel
from zoo import HEADS, ZOO, declared_classes, registered_classes

import hf_mmattn  # registers the models
from hf_mmattn.hub import card_template
from hf_mmattn.models import discover
from hf_mmattn.tasks import get_family


def float_tensors(output) -> list[torch.Tensor]:
    """Every floating-point tensor of a model output (nested tuples flattened), in order."""
    tensors = []
    for value in (output.values() if hasattr(output, "values") else output):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            tensors.append(value)
        elif isinstance(value, (tuple, list)):
            tensors += float_tensors(value)
    return tensors


def assert_same_outputs(actual, expected, rtol: float = 0.0, atol: float = 0.0) -> None:
    """The floating-point tensors of two outputs (or tuples) agree one to one, and there are some."""
    pairs = list(zip(float_tensors(actual), float_tensors(expected), strict=True))
    assert pairs
    for x, y in pairs:
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol)


def test_every_model_folder_is_registered_has_a_card_and_a_tiny_preset_and_is_in_the_zoo():
    """Adding a model is adding a folder (docs/architecture.md): every ``models/<name>/`` with an
    ``__init__.py`` is discovered, registered with AutoConfig, its family's Auto class and
    AutoModel, ships its card and a "tiny" preset, and is in the zoo the contract tests below run
    over (as each of its declared classes)."""
    folders = sorted(path.parent.name for path in Path(hf_mmattn.models.__file__).parent.glob("*/__init__.py"))
    declared = {model.name: model for model in discover()}
    assert folders and sorted(declared) == folders
    zoo_classes = {zoo_model.model_class for zoo_model in ZOO}
    for name in folders:
        model = declared[name]
        assert model.config.model_type == f"mmattn_{name}"
        assert type(AutoConfig.for_model(model.config.model_type)) is model.config
        assert AutoModel._model_mapping[model.config] is model.auto_model
        assert get_family(model.family).auto_class._model_mapping[model.config] is model.heads[0]
        assert card_template(name) is not None and "{{" in card_template(name).read_text(encoding="utf-8"), name
        assert "tiny" in model.config.presets, name
        assert {model_class for model_class, _ in declared_classes(model)} <= zoo_classes, name
    assert len(ZOO) >= len(registered_classes())


# --- initialisation ----------------------------------------------------------------------------

@pytest.mark.parametrize("image_encoder", ["features", "scratch_cnn", "backbone"])
@pytest.mark.parametrize("zoo_model", ZOO, ids=str)
def test_init_weights_initialises_every_parameter_and_buffer(zoo_model, image_encoder):
    """``initialize_weights()`` (run by ``from_pretrained`` on whatever a checkpoint lacks) on a
    model whose every tensor is garbage gives exactly what it gives on a healthy model with the
    same seed: no tensor is left to chance (transformers 5 materialises missing tensors as
    uninitialised memory)."""
    config = zoo_model.config(image_encoder)
    reference, poisoned = zoo_model.model_class(config), zoo_model.model_class(config)
    poison(poisoned)
    for model in (reference, poisoned):
        clear_initialised_flags(model)
        torch.manual_seed(1)
        model.initialize_weights()
    expected = reference.state_dict()
    for name, tensor in poisoned.state_dict().items():
        assert torch.equal(tensor, expected[name]), f"{name} is not initialised by _init_weights"


@pytest.mark.parametrize("zoo_model", ZOO, ids=str)
def test_from_pretrained_without_weights_initialises_like_the_constructor(zoo_model):
    """``from_pretrained(None, config=..., state_dict={})``: every tensor missing, every tensor
    initialised by ``_init_weights`` (transformers' own check: the same values as
    ``initialize_weights()`` from the same seed) and reported as newly initialised."""
    config = zoo_model.config("scratch_cnn")
    torch.manual_seed(5)
    loaded, info = zoo_model.model_class.from_pretrained(None, config=config, state_dict={}, output_loading_info=True)
    reference = zoo_model.model_class(config)
    clear_initialised_flags(reference)
    torch.manual_seed(5)
    reference.initialize_weights()
    expected = reference.state_dict()
    assert set(info["missing_keys"]) == set(expected)
    for name, tensor in loaded.state_dict().items():
        assert torch.isfinite(tensor.float()).all(), name
        assert torch.equal(tensor, expected[name]), f"{name} differs from _init_weights' initialisation"


@pytest.mark.parametrize("zoo_model", ZOO, ids=str)
def test_a_partial_checkpoint_keeps_what_it_has_and_initialises_the_rest(zoo_model, tmp_path):
    model = zoo_model.build("scratch_cnn", seed=2)
    state = model.state_dict()
    kept = {name: tensor for index, (name, tensor) in enumerate(sorted(state.items())) if index % 2 == 0}
    loaded, info = zoo_model.model_class.from_pretrained(None, config=model.config, state_dict=kept, output_loading_info=True)
    assert set(info["missing_keys"]) == set(state) - set(kept)
    loaded_state = loaded.state_dict()
    for name, tensor in kept.items():
        assert torch.equal(loaded_state[name], tensor), name
    for name in set(state) - set(kept):
        assert torch.isfinite(loaded_state[name].float()).all(), name
        assert loaded_state[name].abs().max() <= max(10.0, 10 * state[name].abs().max()), f"{name} looks uninitialised"


# --- embeddings ------------------------------------------------------------------------------

def word_tables(model, vocab_size: int) -> list[torch.nn.Embedding]:
    return [module for module in model.modules() if isinstance(module, torch.nn.Embedding) and module.num_embeddings == vocab_size]


READS_WORDS = [zoo_model for zoo_model in ZOO if zoo_model.family != "image_classification"]


@pytest.mark.parametrize("zoo_model", [zoo_model for zoo_model in ZOO if zoo_model not in READS_WORDS], ids=str)
def test_models_without_words_refuse_to_resize_token_embeddings(zoo_model):
    """An image classifier has no word table: resizing says so, as transformers' vision models do."""
    model = zoo_model.build()
    assert not [module for module in model.modules() if isinstance(module, torch.nn.Embedding)]
    with pytest.raises(NotImplementedError, match="no word embeddings"):
        model.resize_token_embeddings(10)


@pytest.mark.parametrize("zoo_model", READS_WORDS, ids=str)
def test_resize_token_embeddings_resizes_every_word_table_and_the_output_layer(zoo_model):
    model = zoo_model.build()
    old_vocab = model.config.vocab_size
    tables = word_tables(model, old_vocab)
    assert tables and model.get_input_embeddings() is tables[0]
    old_rows = [table.weight.detach().clone() for table in tables]
    output_layer = model.get_output_embeddings()
    generates = zoo_model.family in ("captioning", "translation")
    assert (output_layer is not None) == generates
    old_output = output_layer.weight.detach().clone() if output_layer is not None else None

    model.resize_token_embeddings(old_vocab + 3)
    assert model.config.vocab_size == old_vocab + 3
    resized = word_tables(model, old_vocab + 3)
    assert len(resized) == len(tables) and not word_tables(model, old_vocab)
    for table, rows in zip(resized, old_rows, strict=True):
        assert torch.equal(table.weight[:old_vocab], rows)
        assert torch.isfinite(table.weight).all()
    inputs = zoo_model.inputs(model.config)
    # The translators' resized vocabulary is the target's (what they generate): the new word is a decoder input.
    words = "decoder_input_ids" if zoo_model.family == "translation" else "input_ids"
    inputs[words] = inputs[words].clone()
    inputs[words][:, 1] = old_vocab + 2  # a new word, inside every sequence
    with torch.no_grad():
        output = model(**inputs)
    assert all(torch.isfinite(tensor).all() for tensor in float_tensors(output))
    if output_layer is not None:
        assert output.logits.shape[-1] == old_vocab + 3
        new_output = model.get_output_embeddings()
        assert torch.equal(new_output.weight[:old_vocab], old_output)
        # A new word can be generated: make it the most likely one.
        with torch.no_grad():
            new_output.bias[old_vocab + 1] = 1e4
        if zoo_model.family == "translation":
            prompt = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
        else:
            images = {k: v for k, v in inputs.items() if k in ("pixel_values", "image_features")}
            prompt = {"input_ids": inputs["input_ids"][:, :1], **images}
        generated = model.generate(**prompt, max_new_tokens=2)
        assert (generated[:, 1:] == old_vocab + 1).all()

    model.resize_token_embeddings(old_vocab - 1)
    assert model.config.vocab_size == old_vocab - 1 and len(word_tables(model, old_vocab - 1)) == len(tables)
    with pytest.raises(ValueError, match="outside the (target )?vocabulary"):
        model(**inputs)


# --- save / load -----------------------------------------------------------------------------

@pytest.mark.parametrize("sharded", [False, True], ids=["one_file", "sharded"])
@pytest.mark.parametrize("zoo_model", ZOO, ids=str)
def test_save_and_load_round_trip(zoo_model, sharded, tmp_path):
    model = zoo_model.build("scratch_cnn", seed=3)
    inputs = zoo_model.inputs(model.config)
    model.train()
    with torch.no_grad():
        model(**inputs)  # moves the BatchNorm statistics off their defaults
    model.eval()
    model.save_pretrained(tmp_path, **({"max_shard_size": "2KB"} if sharded else {}))
    files = {path.name for path in tmp_path.iterdir()}
    if sharded:
        index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
        assert len(set(index["weight_map"].values())) > 1 and "model.safetensors" not in files
    else:
        assert "model.safetensors" in files
    config = AutoConfig.from_pretrained(tmp_path)
    assert type(config) is type(model.config)
    head_is_base = zoo_model.family in ("captioning", "matching", "translation")  # AutoModel loads the head itself
    for loader in (zoo_model.model_class, AutoModel if not zoo_model.has_loss or head_is_base else None):
        if loader is None:
            continue
        loaded = loader.from_pretrained(tmp_path)
        assert type(loaded) is zoo_model.model_class and not loaded.training
        expected_state = model.state_dict()
        assert loaded.state_dict().keys() == expected_state.keys()
        for name, tensor in loaded.state_dict().items():
            assert torch.equal(tensor, expected_state[name]), name
        with torch.no_grad():
            # The same weights; transformers >= 5.25 may load them at an address of another
            # alignment, where CPU kernels sum in another order: float32 rounding, not bitwise.
            assert_same_outputs(loaded(**inputs), model(**inputs), rtol=1e-5, atol=1e-5)


# --- outputs ---------------------------------------------------------------------------------

def attention_maps(output) -> list[torch.Tensor]:
    maps = []
    for name in ("attentions", "question_attentions", "text_attentions", "cross_attentions"):
        maps += list(getattr(output, name, None) or ())
    return maps


@pytest.mark.parametrize("zoo_model", ZOO, ids=str)
def test_output_attentions_from_the_call_or_the_config(zoo_model):
    model = zoo_model.build()
    inputs = zoo_model.inputs(model.config)
    with torch.no_grad():
        quiet = model(**inputs)
        loud = model(**inputs, output_attentions=True)
        if model.config._attn_implementation == "sdpa":
            model.set_attn_implementation("eager")  # transformers refuses output_attentions in an SDPA config
        model.config.output_attentions = True
        from_config = model(**inputs)
        silenced = model(**inputs, output_attentions=False)
    assert attention_maps(quiet) == [] and attention_maps(silenced) == []
    maps = attention_maps(loud)
    if not zoo_model.has_attentions:
        assert maps == []
        return
    assert maps, "an attention model returned no attention maps"
    for attention, again in zip(maps, attention_maps(from_config), strict=True):
        torch.testing.assert_close(attention, again)  # MCAN's config path switched SDPA to eager
        assert (attention >= 0).all()
        sums = attention.sum(-1)
        if zoo_model.attentions_sum_to_one:
            assert torch.allclose(sums[sums > 0], torch.ones_like(sums[sums > 0]), atol=1e-5)
        else:
            assert (sums > 0).any() and (sums <= 1 + 1e-5).all()
    # The maps are extra outputs: every other field is the same.
    assert set(quiet.keys()) and set(quiet.keys()) <= set(loud.keys())
    for key in quiet.keys():
        if isinstance(quiet[key], torch.Tensor):
            assert torch.equal(quiet[key], loud[key]), key


@pytest.mark.parametrize("zoo_model", ZOO, ids=str)
def test_return_dict_false_gives_the_same_values_as_a_tuple(zoo_model):
    model = zoo_model.build()
    inputs = zoo_model.inputs(model.config, labels=zoo_model.has_loss)
    with torch.no_grad():
        as_dict = model(**inputs, output_attentions=True)
        as_tuple = model(**inputs, output_attentions=True, return_dict=False)
        model.config.return_dict = False
        from_config = model(**inputs, output_attentions=True)
    for result in (as_tuple, from_config):
        assert isinstance(result, tuple) and len(result) == len(as_dict.to_tuple()) > 0
        assert_same_outputs(result, as_dict)


@pytest.mark.parametrize("zoo_model", ZOO, ids=str)
def test_output_hidden_states_is_returned_or_refused(zoo_model):
    model = zoo_model.build()
    inputs = zoo_model.inputs(model.config)
    if zoo_model.family != "captioning":
        with pytest.raises(ValueError, match="return no hidden_states"):
            model(**inputs, output_hidden_states=True)
        model.config.output_hidden_states = True
        with pytest.raises(ValueError, match="return no hidden_states"):
            model(**inputs)
        return
    with torch.no_grad():
        output = model(**inputs, output_hidden_states=True)
        assert model(**inputs).hidden_states is None
    embeddings, states = output.hidden_states
    batch, words = inputs["input_ids"].shape
    assert embeddings.shape == (batch, words, model.config.embedding_size)
    assert states.shape == (batch, words, model.config.hidden_size)
    torch.testing.assert_close(embeddings, model.get_input_embeddings()(inputs["input_ids"]))


@pytest.mark.parametrize("zoo_model", ZOO, ids=str)
def test_unknown_and_unsupported_keyword_arguments_are_refused(zoo_model):
    model = zoo_model.build()
    inputs = zoo_model.inputs(model.config)
    for name in ("attention_masks", "shift_labels", "pixel_value", "num_items_in_batch", "topk"):
        with pytest.raises(TypeError, match=name):
            model(**inputs, **{name: 1})


# --- behaviour -------------------------------------------------------------------------------

@pytest.mark.parametrize("zoo_model", ZOO, ids=str)
def test_evaluation_is_deterministic(zoo_model):
    model = zoo_model.build("scratch_cnn", dropout=0.5)
    model.train()
    model.eval()
    inputs = zoo_model.inputs(model.config)
    with torch.no_grad():
        assert_same_outputs(model(**inputs, output_attentions=True), model(**inputs, output_attentions=True))


@pytest.mark.parametrize("zoo_model", HEADS, ids=str)
def test_training_steps_lower_the_loss(zoo_model):
    model = zoo_model.build(seed=4, dropout=0.0)
    inputs = zoo_model.inputs(model.config, labels=True)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    losses = []
    for _ in range(30):
        output = model(**inputs)
        # Hard attention's loss holds the REINFORCE surrogate; the caption loss is what falls.
        losses.append(float(output.caption_loss if getattr(output, "caption_loss", None) is not None else output.loss))
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
    assert math.isfinite(losses[-1]) and losses[-1] < 0.9 * losses[0], losses


# --- dtypes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("zoo_model", ZOO, ids=str)
def test_half_precision_loading(zoo_model, dtype, tmp_path):
    """``from_pretrained(dtype=...)`` loads every floating tensor in that dtype and answers like the
    float32 model; a checkpoint saved in it loads in it by default (dtype "auto")."""
    model = zoo_model.build(seed=6)
    inputs = zoo_model.inputs(model.config)
    model.save_pretrained(tmp_path / "fp32")
    half = zoo_model.model_class.from_pretrained(tmp_path / "fp32", dtype=dtype)
    assert all(t.dtype == dtype for t in [*half.parameters(), *half.buffers()] if t.is_floating_point())
    half_inputs = {k: v.to(dtype) if v.is_floating_point() else v for k, v in inputs.items()}
    with torch.no_grad():
        expected = float_tensors(model(**inputs))[0]
        actual = float_tensors(half(**half_inputs))[0]
    assert actual.dtype == dtype
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual.float(), expected, rtol=0.05, atol=0.05 * max(scale, 1.0))

    half.save_pretrained(tmp_path / "half")
    again = zoo_model.model_class.from_pretrained(tmp_path / "half")
    # (A bilinear pooling of precomputed features has no parameter: its dtype is its config's.)
    assert {t.dtype for t in again.parameters() if t.is_floating_point()} <= {dtype} and again.dtype == dtype


# --- default configs --------------------------------------------------------------------------

@pytest.mark.parametrize(("config_class", "model_class"), [(c, m) for c, m, *_ in registered_classes()], ids=lambda x: x.__name__)
def test_every_model_builds_from_its_default_config(config_class, model_class, tmp_path):
    """A user's first ``Model(Config())`` builds: pixel models get a default backbone (ResNet-152's
    res5c; VGG-16's relu5_3 for the bilinear CNN, its paper's; random until
    ``load_pretrained_backbone``) instead of "needs a backbone_config".
    Built on the meta device: the papers' sizes are tens of millions of parameters."""
    config = config_class()
    if getattr(config, "image_encoder", None) == "backbone":
        default = config_class.default_backbone_config
        assert config.backbone_config.model_type == default["model_type"]
        if default["model_type"] == "resnet":
            assert list(config.backbone_config.depths) == [3, 8, 36, 3]
        else:
            assert config.backbone_config.out_features == ["relu5_3"] and config.backbone_config.layers.count("M") == 5
    with torch.device("meta"):
        model = model_class(config)
    assert sum(parameter.numel() for parameter in model.parameters()) > 1e6
    config.save_pretrained(tmp_path)
    fields = lambda c: {k: v for k, v in c.to_dict().items() if k != "_name_or_path"}  # noqa: E731
    assert fields(AutoConfig.from_pretrained(tmp_path)) == fields(config)


def test_the_default_san_answers_from_pixels():
    from hf_mmattn import SanConfig, SanForVisualQuestionAnswering

    torch.manual_seed(0)
    model = SanForVisualQuestionAnswering(SanConfig(vocab_size=20)).eval()
    with torch.no_grad():
        output = model(input_ids=torch.tensor([[3, 4, 5]]), pixel_values=torch.randn(1, 3, 64, 64), output_attentions=True)
    assert output.logits.shape == (1, model.config.num_labels) and output.image_grid_size == (2, 2)
    assert torch.isfinite(output.logits).all()

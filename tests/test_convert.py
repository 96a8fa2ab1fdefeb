"""Tests of the converters' shared core (hf_mmattn.convert); each model's converter is tested in its
own test file on fake checkpoints with the original key layout."""

import pickle
from collections import OrderedDict

import pytest
import torch
from tokenizers import Regex, normalizers

from hf_mmattn.convert import (
    build_word_tokenizer,
    checkpoint_state_dict,
    load_converted_state_dict,
    load_original_checkpoint,
    main,
    read_pickle_data,
    strip_prefix,
)


def test_checkpoints_of_tensors_load_and_pickled_modules_are_refused(tmp_path):
    state = {"state_dict": OrderedDict(weight=torch.arange(3.0)), "epoch": 13, "lr_base": 1e-4}
    torch.save(state, tmp_path / "ckpt.pkl")
    loaded = load_original_checkpoint(tmp_path / "ckpt.pkl")
    assert loaded["epoch"] == 13 and torch.equal(loaded["state_dict"]["weight"], torch.arange(3.0))

    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")  # a whole module, as some tutorials save
    with pytest.raises(ValueError, match=r"weights_only=True.*state_dict\(\)"):
        load_original_checkpoint(tmp_path / "module.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pth"):
        load_original_checkpoint(tmp_path / "garbage.pth")
    with pytest.raises(FileNotFoundError):
        load_original_checkpoint(tmp_path / "absent.pth")


def test_strict_state_dict_loading_names_every_problem():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    good = {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items()}
    load_converted_state_dict(model, good)
    assert all(torch.all(v == 0.5) for v in model.state_dict().values())

    missing = {k: v for k, v in good.items() if k != "1.bias"}
    with pytest.raises(ValueError, match=r"1 model weights have no tensor.*'1.bias'"):
        load_converted_state_dict(model, missing)
    with pytest.raises(ValueError, match=r"no place in the model: \['extra'\]"):
        load_converted_state_dict(model, {**good, "extra": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"0.weight: checkpoint \(2, 2\) vs model \(3, 2\)"):
        load_converted_state_dict(model, {**good, "0.weight": torch.zeros(2, 2)})
    assert strip_prefix({"module.a": 1, "b": 2}) == {"a": 1, "b": 2}


def test_checkpoint_state_dict_unwraps_the_released_layouts_and_bare_state_dicts():
    weight = torch.ones(2)
    mcan = {"state_dict": {"module.proj.weight": weight}, "optimizer": {}, "lr_base": 1e-4, "epoch": 13}
    ban = {"epoch": 12, "model_state": {"module.classifier.weight": weight}, "optimizer_state": {}}
    assert checkpoint_state_dict(mcan, "state_dict", "an MCAN checkpoint") == {"proj.weight": weight}
    assert checkpoint_state_dict(ban, "model_state", "a ban-vqa checkpoint") == {"classifier.weight": weight}
    assert checkpoint_state_dict({"proj.weight": weight}, "state_dict", "an MCAN checkpoint") == {"proj.weight": weight}
    with pytest.raises(ValueError, match="expected a ban-vqa checkpoint or a bare state dict of tensors"):
        checkpoint_state_dict(mcan, "model_state", "a ban-vqa checkpoint")  # the other code's wrapper
    with pytest.raises(ValueError, match="bare state dict of tensors"):
        checkpoint_state_dict([weight], "state_dict", "an MCAN checkpoint")


class _Evil:
    def __reduce__(self):
        return (print, ("ran code",))


def test_pickles_of_plain_data_load_and_objects_are_refused(tmp_path):
    data = [{"what": 0, "color": 1}, ["what", "color"]]
    (tmp_path / "dictionary.pkl").write_bytes(pickle.dumps(data))
    assert read_pickle_data(tmp_path / "dictionary.pkl") == data
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(ValueError, match="more than plain Python data"):
        read_pickle_data(tmp_path / "evil.pkl")


def test_word_tokenizer_keeps_the_original_ids_cleaning_and_padding():
    vocab = {"PAD": 0, "UNK": 1, "what": 2, "color": 3, "is": 4, "the": 5, "cat": 6}
    tokenizer = build_word_tokenizer(
        vocab, pad_token="PAD", unk_token="UNK", max_length=4, padding_side="left",
        normalizer_steps=[normalizers.Lowercase(), normalizers.Replace(Regex(r"[?,]"), "")],
    )
    encoded = tokenizer(["What color, is the CAT?", "what dog"], padding="max_length", truncation=True, max_length=4)
    assert encoded["input_ids"] == [[2, 3, 4, 5], [0, 0, 2, 1]]
    assert encoded["attention_mask"] == [[1, 1, 1, 1], [0, 0, 1, 1]]
    with pytest.raises(ValueError, match="pad_token 'PAD'"):
        build_word_tokenizer({"UNK": 0}, pad_token="PAD", unk_token="UNK")
    with pytest.raises(ValueError, match="0..N-1"):
        build_word_tokenizer({"PAD": 0, "UNK": 2}, pad_token="PAD", unk_token="UNK")


def test_command_line_names_the_models(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["resnet"])
    assert exit_info.value.code == 2
    assert "{ban,luong,mcan,show_attend_tell,vgg}" in capsys.readouterr().err

"""Damaged or foreign transformer checkpoints stop with a ConversionError naming the file and key."""

from pathlib import Path

import pytest
import torch

from clipgen_convert import gpt, synth_gpt
from clipgen_convert.component import ConversionError


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = synth_gpt.write(str(tmp_path_factory.mktemp("gpt")), "tiny", seed=0, cond_dim=64, vocab_size=512,
                           grid=[8, 8])
    return torch.load(path, weights_only=True), path


def _save_with(tmp_path, checkpoint, **changes) -> str:
    state = dict(checkpoint[0]["model"])
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            del state[key]
        else:
            state[key] = value
    path = str(tmp_path / "bad.pt")
    torch.save({**checkpoint[0], "model": state}, path)
    return path


def test_missing_key(tmp_path, checkpoint):
    path = _save_with(tmp_path, checkpoint, blocks__1__encoder__linear2__bias=None)
    with pytest.raises(ConversionError, match=r"bad.pt: missing key 'blocks.1.encoder.linear2.bias' \(shape \[128\]\) "
                                              r"for the HFAiLab GPT layout"):
        gpt.load(path)


def test_unexpected_key(tmp_path, checkpoint):
    path = _save_with(tmp_path, checkpoint, blocks__0__encoder__extra=torch.zeros(2), ln_f__weight=torch.zeros(2))
    with pytest.raises(ConversionError, match=r"unexpected key\(s\) for the HFAiLab GPT layout: "
                                              r"blocks.0.encoder.extra, ln_f.weight"):
        gpt.load(path)


def test_misshaped_key(tmp_path, checkpoint):
    path = _save_with(tmp_path, checkpoint, blocks__1__encoder__self_attn__in_proj_weight=torch.zeros(128, 128))
    with pytest.raises(ConversionError, match=r"key 'blocks.1.encoder.self_attn.in_proj_weight' has shape "
                                              r"\[128, 128\], expected \[384, 128\]"):
        gpt.load(path)


def test_head_width_disagreeing_with_codebook(tmp_path, checkpoint):
    path = _save_with(tmp_path, checkpoint, head__weight=torch.zeros(500, 128))
    with pytest.raises(ConversionError, match=r"key 'head.weight' has shape \[500, 128\], expected \[512, 128\]"):
        gpt.load(path)


def test_truncated_file(tmp_path, checkpoint):
    data = Path(checkpoint[1]).read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) - 100])
    with pytest.raises(ConversionError, match="truncated.pt: not a readable PyTorch checkpoint"):
        gpt.load(str(tmp_path / "truncated.pt"))


def test_unreadable_pickle(tmp_path):
    (tmp_path / "text.pt").write_text("model weights, honestly\n")
    with pytest.raises(ConversionError, match="text.pt: not a readable PyTorch checkpoint"):
        gpt.load(str(tmp_path / "text.pt"))


@pytest.mark.parametrize("container", ["bare_state_dict", "lightning", "vqgan"])
def test_wrong_container(tmp_path, checkpoint, container):
    state = checkpoint[0]["model"]
    obj = {"bare_state_dict": state, "lightning": {"state_dict": state},
           "vqgan": {"model": {"quantizer.embedding.weight": torch.zeros(8, 8)}}}[container]
    torch.save(obj, tmp_path / "wrong.pt")
    with pytest.raises(ConversionError, match="wrong.pt: (expected a HFAiLab GPT checkpoint|not a CLIP-GEN "
                                              "transformer)"):
        gpt.load(str(tmp_path / "wrong.pt"))

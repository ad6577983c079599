"""Damaged or foreign VQGAN checkpoints stop with a ConversionError naming the file and key, never a traceback."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import hfai_clipgen_vqgan  # noqa: E402

from clipgen_convert import synth_vqgan, vqgan  # noqa: E402
from clipgen_convert.component import ConversionError  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The tiny taming checkpoint as a dict, and its path."""
    path = synth_vqgan.write(str(tmp_path_factory.mktemp("vq")), "tiny", seed=0)
    return torch.load(path, weights_only=True), path


def _save(tmp_path, obj, name="bad.ckpt") -> str:
    path = str(tmp_path / name)
    torch.save(obj, path)
    return path


def _edited(checkpoint, **changes):
    state = dict(checkpoint[0]["state_dict"])
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            del state[key]
        else:
            state[key] = value
    return {**checkpoint[0], "state_dict": state}


def test_missing_key(tmp_path, checkpoint):
    path = _save(tmp_path, _edited(checkpoint, decoder__mid__block_1__conv1__weight=None))
    with pytest.raises(ConversionError, match=r"bad.ckpt: missing key 'decoder.mid.block_1.conv1.weight' "
                                              r"\(shape \[128, 128, 3, 3\]\) for the taming layout"):
        vqgan.load(path)


def test_unexpected_key(tmp_path, checkpoint):
    path = _save(tmp_path, _edited(checkpoint, decoder__extra__weight=torch.zeros(3)))
    with pytest.raises(ConversionError, match=r"bad.ckpt: unexpected key\(s\) for the taming layout: "
                                              r"decoder.extra.weight"):
        vqgan.load(path)


def test_misshaped_key(tmp_path, checkpoint):
    path = _save(tmp_path, _edited(checkpoint, decoder__conv_out__weight=torch.zeros(3, 32, 1, 1)))
    with pytest.raises(ConversionError, match=r"key 'decoder.conv_out.weight' has shape \[3, 32, 1, 1\], "
                                              r"expected \[3, 32, 3, 3\]"):
        vqgan.load(path)


def test_missing_attention_block(tmp_path, checkpoint):
    state = {k: v for k, v in checkpoint[0]["state_dict"].items() if not k.startswith("decoder.up.3.attn.1.")}
    path = _save(tmp_path, {**checkpoint[0], "state_dict": state})
    with pytest.raises(ConversionError, match="decoder level 3 has 2 resnet blocks and 1 attention blocks"):
        vqgan.load(path)


def test_hfai_misshaped_attention(tmp_path):
    state = hfai_clipgen_vqgan.tiny(seed=0).state_dict()
    state["decoder.mid.1.attn.in_proj_weight"] = torch.zeros(64 * 3, 32)
    path = _save(tmp_path, {"model": state}, "vqgan_coco.pt")
    with pytest.raises(ConversionError, match=r"vqgan_coco.pt: key 'decoder.mid.1.attn.in_proj_weight' has shape "
                                              r"\[192, 32\], expected \[192, 64\]"):
        vqgan.load(path)


def test_truncated_file(tmp_path, checkpoint):
    data = Path(checkpoint[1]).read_bytes()
    path = tmp_path / "truncated.ckpt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError, match="truncated.ckpt: not a readable PyTorch checkpoint"):
        vqgan.load(str(path))


def test_unreadable_pickle(tmp_path):
    path = tmp_path / "noise.ckpt"
    path.write_bytes(b"\x80\x02this is not a pickle" * 10)
    with pytest.raises(ConversionError, match="noise.ckpt: not a readable PyTorch checkpoint"):
        vqgan.load(str(path))


@pytest.mark.parametrize("container", ["bare_state_dict", "list", "clip_like"])
def test_wrong_container(tmp_path, checkpoint, container):
    obj = {"bare_state_dict": checkpoint[0]["state_dict"], "list": [1, 2, 3],
           "clip_like": {"state_dict": {"token_embedding.weight": torch.zeros(4, 4)}}}[container]
    path = _save(tmp_path, obj)
    with pytest.raises(ConversionError, match="bad.ckpt: not a VQGAN checkpoint"):
        vqgan.load(path)


def test_no_such_file(tmp_path):
    with pytest.raises(ConversionError, match="nothing.ckpt: no such file"):
        vqgan.load(str(tmp_path / "nothing.ckpt"))

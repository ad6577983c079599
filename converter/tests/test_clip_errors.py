"""Bad CLIP inputs stop with a ConversionError that names the file and the key / what was expected."""

import gzip
import pickle

import pytest
import torch

from clipgen_convert import clip, synth_clip
from clipgen_convert.component import ConversionError

synth_clip.import_open_clip()  # with a stand-in torchvision where needed


@pytest.fixture(scope="module")
def openai_sd():
    """A real OpenAI-layout state dict (tiny open_clip QuickGELU model + OpenAI's export entries)."""
    return synth_clip.openai_state_dict(synth_clip.build("tiny", seed=0))


def _save(tmp_path, obj, name="clip.pt"):
    path = tmp_path / name
    torch.save(obj, path)
    return str(path)


def test_missing_key(tmp_path, openai_sd):
    sd = dict(openai_sd)
    del sd["transformer.resblocks.1.mlp.c_proj.bias"]
    with pytest.raises(ConversionError, match=r"clip\.pt: missing key 'transformer\.resblocks\.1\.mlp\.c_proj\.bias'"):
        clip.load(_save(tmp_path, sd))


def test_missing_vision_key(tmp_path, openai_sd):
    sd = {k: v for k, v in openai_sd.items() if k != "visual.ln_post.weight"}
    with pytest.raises(ConversionError, match=r"missing key 'visual\.ln_post\.weight' \(openai layout, vision tower\)"):
        clip.load(_save(tmp_path, sd))


def test_unexpected_key(tmp_path, openai_sd):
    sd = dict(openai_sd, **{"transformer.resblocks.0.ls_1.gamma": torch.ones(128)})
    with pytest.raises(ConversionError, match=r"unexpected key 'transformer\.resblocks\.0\.ls_1\.gamma'"):
        clip.load(_save(tmp_path, sd))


def test_misshaped_key(tmp_path, openai_sd):
    sd = dict(openai_sd, **{"transformer.resblocks.0.attn.in_proj_weight": torch.zeros(384, 127)})
    with pytest.raises(ConversionError, match=r"key 'transformer\.resblocks\.0\.attn\.in_proj_weight' has shape "
                                              r"\[384, 127\], expected \[384, 128\]"):
        clip.load(_save(tmp_path, sd))


def test_misshaped_projection_names_source_order(tmp_path, openai_sd):
    sd = dict(openai_sd, text_projection=torch.zeros(64, 128))  # transposed by mistake: OpenAI's is [width, embed]
    with pytest.raises(ConversionError, match=r"key 'text_projection' has shape \[64, 128\], expected \[128, "):
        clip.load(_save(tmp_path, sd))


def test_embedding_widths_disagree(tmp_path, openai_sd):
    sd = dict(openai_sd, **{"visual.proj": torch.zeros(128, 32)})
    with pytest.raises(ConversionError, match="image embedding width 32 differs from the text embedding width 64"):
        clip.load(_save(tmp_path, sd))


def test_truncated_file(tmp_path, openai_sd):
    path = tmp_path / "clip.pt"
    torch.save(openai_sd, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ConversionError, match=r"clip\.pt: not a readable PyTorch checkpoint \(truncated"):
        clip.load(str(path))


def test_truncated_safetensors(tmp_path, openai_sd):
    from safetensors.torch import save_file
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in openai_sd.items()}, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError, match=r"model\.safetensors: not a readable float16/float32 safetensors"):
        clip.load(str(path))


class NotATensor:
    """A pickled class: torch.load(weights_only=True) refuses to run arbitrary code to rebuild it."""


def test_unreadable_pickle(tmp_path):
    path = tmp_path / "clip.pt"
    with open(path, "wb") as f:
        pickle.dump({"model": NotATensor()}, f)
    with pytest.raises(ConversionError, match=r"clip\.pt: not a readable PyTorch checkpoint"):
        clip.load(str(path))
    path.write_bytes(b"\x80\x04 definitely not a pickle")
    with pytest.raises(ConversionError, match=r"clip\.pt: not a readable PyTorch checkpoint"):
        clip.load(str(path))


def test_not_a_state_dict(tmp_path):
    with pytest.raises(ConversionError, match=r"entry 'epoch' is a int, expected a tensor"):
        clip.load(_save(tmp_path, {"token_embedding.weight": torch.zeros(2, 2), "epoch": 3}))


def test_unknown_layout(tmp_path):
    sd = {"encoder.conv_in.weight": torch.zeros(4, 3, 3, 3), "decoder.conv_out.bias": torch.zeros(3)}
    with pytest.raises(ConversionError, match=r"not a known CLIP layout.*found keys like decoder\.conv_out\.bias"):
        clip.load(_save(tmp_path, sd))


def test_resnet_image_tower_is_refused(tmp_path, openai_sd):
    sd = dict(openai_sd, **{"visual.layer1.0.conv1.weight": torch.zeros(64, 64, 1, 1)})
    with pytest.raises(ConversionError, match="only ViT image towers"):
        clip.load(_save(tmp_path, sd))


def test_missing_file():
    with pytest.raises(ConversionError, match="no_such.pt: no such file"):
        clip.load("/nonexistent/no_such.pt")


def test_bad_activation_option(tmp_path, openai_sd):
    with pytest.raises(ConversionError, match="--clip-activation 'relu': expected one of quick_gelu, gelu"):
        clip.load(_save(tmp_path, openai_sd), activation="relu")


def test_vocabulary_size_must_match(tmp_path, openai_sd):
    sd = dict(openai_sd, **{"token_embedding.weight": torch.zeros(1000, 128)})
    with pytest.raises(ConversionError, match="token embedding has 1000 rows but the CLIP BPE vocabulary has 49408"):
        clip.load(_save(tmp_path, sd))


def test_bpe_path_errors(tmp_path, openai_sd):
    path = _save(tmp_path, openai_sd)
    with pytest.raises(ConversionError, match="missing.txt.gz: not a readable gzip'd CLIP BPE vocabulary"):
        clip.load(path, bpe_path=str(tmp_path / "missing.txt.gz"))
    short = tmp_path / "short.txt.gz"
    with gzip.open(short, "wt", encoding="utf-8") as f:
        f.write("#version: 0.2\nh e\n")
    with pytest.raises(ConversionError, match="short.txt.gz: expected a version line and 48894 merges"):
        clip.load(path, bpe_path=str(short))


def test_non_causal_attention_mask_is_refused(tmp_path, openai_sd):
    sd = dict(openai_sd, attn_mask=torch.zeros(77, 77))
    with pytest.raises(ConversionError, match="attn_mask is not the causal mask of 77 positions"):
        clip.load(_save(tmp_path, sd))

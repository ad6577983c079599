"""Transformer loader + reference forward against torch's nn.TransformerEncoderLayer (gpt_model.ClipGenGPT).

The synth checkpoint is ClipGenGPT's state dict in HFAiLab's layout; gpt_ref over the converted tensors must give the
module's logits, and its KV-cached decoding must give the same logits one position at a time.
"""

import numpy as np
import pytest
import torch

from clipgen_convert import gpt, gpt_ref, quant, synth_gpt
from clipgen_convert.component import ConversionError
from clipgen_convert.gpt_model import ClipGenGPT
from clipgen_convert.synth_clip import TINY_EMBED_DIM

# float32 attention / layer norm in gpt_ref sum in another order than torch's fused encoder layer.
LOGIT_ATOL = 1e-4
# The acceptance mark for Q8_0 next-token agreement.
Q8_0_TOP1 = 0.95
TINY = dict(cond_dim=TINY_EMBED_DIM, vocab_size=512, grid=[8, 8])  # as `clipgen-convert synth --preset tiny`


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    path = synth_gpt.write(str(tmp_path_factory.mktemp("gpt")), "tiny", seed=0, **TINY)
    return path, synth_gpt.build("tiny", seed=0, **TINY)


def _hfai_style(tmp_path, model: ClipGenGPT, name="gpt_coco.pt") -> str:
    """As HFAiLab's train_gpt.py saves: no 'config' entry."""
    path = str(tmp_path / name)
    torch.save({"model": model.state_dict(), "epoch": 3, "step": 0, "val_loss": torch.tensor(4.2)}, path)
    return path


def test_forward_equals_torch_module(synth):
    path, model = synth
    reference = gpt_ref.GPTReference(gpt.load(path))
    generator = torch.Generator().manual_seed(7)
    for length in (0, 1, 63):  # only the condition; one token; the whole grid but the last token
        cond = torch.nn.functional.normalize(torch.randn(TINY_EMBED_DIM, generator=generator), dim=0)
        tokens = torch.randint(512, (length,), generator=generator)
        with torch.no_grad():
            expected = model(tokens[None], cond[None])[0]  # [length + 1, vocab]
            got = reference.forward(cond, tokens)
        assert got.shape == (length + 1, 512)
        assert torch.allclose(got, expected, atol=LOGIT_ATOL, rtol=0), (got - expected).abs().max()


def test_cached_steps_equal_full_forward(synth):
    reference = gpt_ref.GPTReference(gpt.load(synth[0]))
    cond, tokens = gpt_ref.verify_inputs(reference.meta)
    with torch.no_grad():
        full = reference.forward(cond, tokens[:-1])  # [64, vocab]
        logits, cache = reference.start(cond)
        rows = [logits]
        assert cache.length == 1
        for i, token in enumerate(tokens[:-1].tolist()):
            rows.append(reference.step(token, cache))
            assert cache.length == i + 2  # one position per token
    assert torch.allclose(torch.stack(rows), full, atol=LOGIT_ATOL, rtol=0)


def test_meta_and_names(synth):
    path, model = synth
    component = gpt.load(path)
    assert component.meta == dict(layers=2, d_model=128, vocab_size=512, cond_dim=TINY_EMBED_DIM, heads=2,
                                  heads_source="checkpoint config", d_ff=512, n_positions=64, grid=[8, 8],
                                  norm_eps=1e-5, activation="gelu", norm_first=True, condition_norm="l2",
                                  source_layout="hfai-clip-gen")
    state = model.state_dict()
    np.testing.assert_array_equal(component.tensors["pos_emb"], state["pos_emb"][0].numpy())  # [positions, d]
    np.testing.assert_array_equal(component.tensors["blocks.1.attn.qkv.weight"],
                                  state["blocks.1.encoder.self_attn.in_proj_weight"].numpy())
    np.testing.assert_array_equal(component.tensors["blocks.0.mlp.proj.bias"],
                                  state["blocks.0.encoder.linear2.bias"].numpy())
    assert len(component.tensors) == 8 + 2 * 12
    assert not [n for n in component.tensors if n.endswith("mask")]


def test_hfai_checkpoint_without_config(tmp_path, synth):
    """HFAiLab's own files record neither heads nor grid: d_model / 64 heads and a square grid, said in the meta."""
    meta = gpt.load(_hfai_style(tmp_path, synth[1])).meta
    assert (meta["heads"], meta["heads_source"], meta["grid"]) == (2, "d_model/64 (HFAiLab presets)", [8, 8])


def test_heads_option_overrides_and_matters(tmp_path, synth):
    path = _hfai_style(tmp_path, synth[1])
    component = gpt.load(path, heads=4)
    assert (component.meta["heads"], component.meta["heads_source"]) == (4, "option")
    # The wrong head count changes the logits (so the meta really drives the forward).
    assert gpt_ref.verify(gpt.load(path), component)["logit_rms"] > 0.01
    with pytest.raises(ConversionError, match="3 attention heads .* do not divide d_model 128"):
        gpt.load(path, heads=3)


def test_heads_needed_when_width_breaks_the_rule(tmp_path):
    torch.manual_seed(0)
    model = ClipGenGPT(vocab_size=64, layers=1, d_model=96, heads=3, grid=[4, 4], cond_dim=32)
    path = _hfai_style(tmp_path, model)
    with pytest.raises(ConversionError, match="gpt_coco.pt: the number of attention heads is not recorded"
                                              ".*--gpt-heads"):
        gpt.load(path)
    assert gpt.load(path, heads=3).meta["heads"] == 3


def test_grid_rules(tmp_path):
    torch.manual_seed(0)
    model = ClipGenGPT(vocab_size=64, layers=1, d_model=64, heads=1, grid=[4, 8], cond_dim=32)
    path = _hfai_style(tmp_path, model)  # 32 positions: not a square
    with pytest.raises(ConversionError, match="32 positions is not a square: pass --gpt-grid HxW"):
        gpt.load(path)
    assert gpt.load(path, grid=[4, 8]).meta["grid"] == [4, 8]
    with pytest.raises(ConversionError, match=r"token grid \[8, 8\] does not fit the 32 positions"):
        gpt.load(path, grid=[8, 8])


def test_config_contradicting_the_weights(tmp_path, synth):
    checkpoint = synth[1].checkpoint(epoch=0)
    checkpoint["config"]["d_model"] = 256
    torch.save(checkpoint, tmp_path / "gpt.pt")
    with pytest.raises(ConversionError, match="'config' says d_model = 256 but the weights have 128"):
        gpt.load(str(tmp_path / "gpt.pt"))


def test_synth_is_deterministic(synth):
    again = synth_gpt.build("tiny", seed=0, **TINY).state_dict()
    for name, tensor in synth[1].state_dict().items():
        assert torch.equal(tensor, again[name]), name
    other = synth_gpt.build("tiny", seed=1, **TINY)
    assert not torch.equal(synth[1].tok_emb.weight, other.tok_emb.weight)


def test_verify_q8_0_and_f32(synth):
    component = gpt.load(synth[0])
    assert gpt_ref.verify(component, quant.roundtrip(component, "f32")) == {"top1_agreement": 1.0, "logit_rms": 0.0}
    result = gpt_ref.verify(component, quant.roundtrip(component, "q8_0"))
    assert result["top1_agreement"] >= Q8_0_TOP1 and 0 < result["logit_rms"] < 0.05, result

"""VQGAN loader + reference decoder against the real networks: taming-transformers' modules and HFAiLab's module tree.

The checkpoints are random but seeded, built by synth_vqgan (taming's own Encoder/Decoder/VectorQuantizer) and by
hfai_clipgen_vqgan (HFAiLab's layout); vqgan_ref.decode over the converted tensors must reproduce each library's own
decode of the same codes.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import hfai_clipgen_vqgan  # noqa: E402

from clipgen_convert import quant, synth_vqgan, vqgan, vqgan_ref  # noqa: E402
from clipgen_convert.component import ConversionError  # noqa: E402

# float32 convolutions and attention sum in a different order in vqgan_ref than in the libraries' modules.
DECODE_ATOL = 1e-4
# The acceptance mark for a Q8_0 decode.
Q8_0_PSNR_DB = 35.0


@pytest.fixture(scope="module")
def taming(tmp_path_factory):
    """(path of the tiny synth checkpoint, the taming model it holds)."""
    path = synth_vqgan.write(str(tmp_path_factory.mktemp("taming")), "tiny", seed=0)
    model, _ = synth_vqgan.build("tiny", seed=0)
    return path, model


@pytest.fixture(scope="module")
def hfai(tmp_path_factory):
    path = tmp_path_factory.mktemp("hfai") / "vqgan_coco.pt"
    model = hfai_clipgen_vqgan.tiny(seed=1)
    hfai_clipgen_vqgan.save(model, path)
    return str(path), model


def _assert_decodes_like(component, model, seeds=(0, 1)):
    decoder = vqgan_ref.VQGANDecoder(component)
    images = []
    for seed in seeds:
        codes = vqgan_ref.random_codes(component.meta, seed)  # [h, w]
        with torch.no_grad():
            expected = model.decode_code(codes[None])[0]  # [3, H, W]
            got = decoder.decode(codes)  # [3, H, W]
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, atol=DECODE_ATOL, rtol=0), (got - expected).abs().max()
        images.append(got)
    # The codes matter (a decoder that ignored them would match too).
    assert (images[0] - images[1]).abs().mean() > 0.05


def test_taming_decode_equals_taming_decoder(taming):
    path, model = taming
    _assert_decodes_like(vqgan.load(path), model)


def test_taming_meta(taming):
    meta = vqgan.load(taming[0]).meta
    assert meta == dict(n_embed=512, embed_dim=64, z_channels=64, ch=32, ch_mult=[1, 2, 2, 4], num_res_blocks=1,
                        attn_per_level=[0, 0, 0, 1], resolution=64, grid=[8, 8], source_layout="taming",
                        norm_groups=32, norm_eps=1e-6, activation="swish", pixel_mean=0.5, pixel_std=0.5)
    assert meta["grid"] == synth_vqgan.TINY_GRID


def test_tensor_names_and_layout(taming):
    path, model = taming
    component = vqgan.load(path)
    state = model.state_dict()
    # Conv weights are [out, kh, kw, in]; the codebook and every other tensor keep taming's name and values.
    expected = {name: (t.permute(0, 2, 3, 1) if t.ndim == 4 else t).numpy()
                for name, t in state.items() if name.startswith(("decoder.", "post_quant_conv.", "quantize."))}
    assert set(component.tensors) == set(expected)
    for name, tensor in component.tensors.items():
        assert tensor.dtype == np.float32
        np.testing.assert_array_equal(tensor, expected[name], err_msg=name)


def test_taming_loss_weights_are_dropped(tmp_path, taming):
    """A trained taming .ckpt also holds loss.* (discriminator, LPIPS): ignored, like encoder and quant_conv."""
    from taming.modules.discriminator.model import NLayerDiscriminator

    checkpoint = torch.load(taming[0], weights_only=True)
    for name, tensor in NLayerDiscriminator(input_nc=3, n_layers=2, ndf=32).state_dict().items():
        checkpoint["state_dict"][f"loss.discriminator.{name}"] = tensor
    torch.save(checkpoint, tmp_path / "with_loss.ckpt")
    component = vqgan.load(str(tmp_path / "with_loss.ckpt"))
    assert not [n for n in component.tensors if n.startswith(("loss", "encoder", "quant_conv"))]


def test_lightning_objects_in_checkpoint_load_as_stand_ins(tmp_path, taming):
    """Lightning pickles callback objects next to the weights (keyed by their class): they load inertly."""
    checkpoint = torch.load(taming[0], weights_only=True)
    checkpoint["callbacks"] = {ModelCheckpoint: {"best_model_score": torch.tensor(0.5)}}
    checkpoint["hparams_object"] = ModelCheckpoint()
    torch.save(checkpoint, tmp_path / "lightning.ckpt")
    assert vqgan.load(str(tmp_path / "lightning.ckpt")).meta["grid"] == [8, 8]


def test_pickled_code_is_never_run(tmp_path, taming):
    victim = tmp_path / "victim"
    victim.touch()
    checkpoint = torch.load(taming[0], weights_only=True)
    checkpoint["payload"] = _Payload(str(victim))
    torch.save(checkpoint, tmp_path / "evil.ckpt")
    with pytest.raises(ConversionError, match="evil.ckpt: not a readable PyTorch checkpoint .*refused"):
        vqgan.load(str(tmp_path / "evil.ckpt"))
    assert victim.exists()


class ModelCheckpoint:
    """Stands for pytorch_lightning.callbacks.ModelCheckpoint: a class the loader cannot import."""

    def __init__(self):
        self.monitor, self.best_k_models = "val/rec_loss", {}


class _Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):  # a plain torch.load(weights_only=False) would delete the file
        return (os.remove, (self.path,))


def test_resolution_comes_from_the_argument_when_not_recorded(tmp_path, taming):
    checkpoint = torch.load(taming[0], weights_only=True)
    del checkpoint["hyper_parameters"]  # as in taming's released checkpoints
    torch.save(checkpoint, tmp_path / "bare.ckpt")
    with pytest.raises(ConversionError, match="--vqgan-resolution"):
        vqgan.load(str(tmp_path / "bare.ckpt"))
    assert vqgan.load(str(tmp_path / "bare.ckpt"), resolution=32).meta["grid"] == [4, 4]
    with pytest.raises(ConversionError, match="resolution 60 is not a positive multiple of 2\\^3"):
        vqgan.load(str(tmp_path / "bare.ckpt"), resolution=60)


def test_synth_is_deterministic(taming):
    path, model = taming
    again, _ = synth_vqgan.build("tiny", seed=0)
    other, _ = synth_vqgan.build("tiny", seed=1)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
    assert not torch.equal(model.decoder.conv_in.weight, other.decoder.conv_in.weight)


def test_verify_q8_0_and_f32(taming):
    component = vqgan.load(taming[0])
    assert vqgan_ref.verify(component, quant.roundtrip(component, "f32"))["psnr_db"] == float("inf")
    psnr = vqgan_ref.verify(component, quant.roundtrip(component, "q8_0"))["psnr_db"]
    assert Q8_0_PSNR_DB <= psnr < 80, psnr
    broken = quant.roundtrip(component, "f32")
    broken.tensors["decoder.mid.attn_1.v.bias"] = broken.tensors["decoder.mid.attn_1.v.bias"] + 0.5
    assert vqgan_ref.verify(component, broken)["psnr_db"] < Q8_0_PSNR_DB


def test_hfai_decode_equals_their_module_tree(hfai):
    path, model = hfai
    _assert_decodes_like(vqgan.load(path), model)


def test_hfai_meta_and_mapping(hfai):
    path, model = hfai
    component = vqgan.load(path)
    assert component.meta == dict(n_embed=512, embed_dim=64, z_channels=64, ch=32, ch_mult=[1, 2, 2],
                                  num_res_blocks=1, attn_per_level=[0, 0, 1], resolution=64, grid=[16, 16],
                                  source_layout="hfai-clip-gen", norm_groups=32, norm_eps=1e-5, activation="swish",
                                  pixel_mean=0.5, pixel_std=0.5)
    # Their first up module is level 2 (lowest resolution), resnet 0; the next its attention; in_proj rows q, k, v.
    state = model.state_dict()
    in_proj = state["decoder.up.1.attn.in_proj_weight"].numpy()  # [3C, C]
    c = in_proj.shape[1]
    for i, part in enumerate("qkv"):
        np.testing.assert_array_equal(component.tensors[f"decoder.up.2.attn.0.{part}.weight"][:, 0, 0, :],
                                      in_proj[i * c:(i + 1) * c])
    np.testing.assert_array_equal(component.tensors["post_quant_conv.bias"], state["decoder.quant_conv_in.bias"])
    assert not [n for n in component.tensors if n.startswith(("encoder", "discriminator"))]


def test_hfai_resolution_argument_overrides(hfai):
    assert vqgan.load(hfai[0], resolution=128).meta["grid"] == [32, 32]


def test_recorded_norm_groups_are_converted_and_decode_like_the_model(tmp_path):
    """clipgen-train's small VQGAN records ddconfig.norm_groups (taming's classes ignore the key)."""
    hparams = {**synth_vqgan.PRESETS["tiny"]}
    hparams["ddconfig"] = {**hparams["ddconfig"], "norm_groups": 8}
    with torch.random.fork_rng():
        torch.manual_seed(3)
        model = synth_vqgan.TamingVQModelParts(hparams["ddconfig"], hparams["n_embed"], hparams["embed_dim"])
        torch.nn.init.normal_(model.quantize.embedding.weight)
        synth_vqgan.perturb_affine(model)
    assert {m.num_groups for m in model.modules() if isinstance(m, torch.nn.GroupNorm)} == {8}
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": hparams}, tmp_path / "g8.ckpt")
    component = vqgan.load(str(tmp_path / "g8.ckpt"))
    assert component.meta["norm_groups"] == 8
    _assert_decodes_like(component, model.eval())
    # The same weights read with 32 groups decode differently: the count matters and is not assumed.
    component.meta["norm_groups"] = 32
    with pytest.raises(AssertionError):
        _assert_decodes_like(component, model)
    for bad, message in ((5, "norm_groups 5 does not divide"), (0, "must be a positive integer"),
                         ("8", "must be a positive integer")):
        checkpoint = {"state_dict": model.state_dict(),
                      "hyper_parameters": {**hparams, "ddconfig": {**hparams["ddconfig"], "norm_groups": bad}}}
        torch.save(checkpoint, tmp_path / "bad.ckpt")
        with pytest.raises(ConversionError, match=message):
            vqgan.load(str(tmp_path / "bad.ckpt"))

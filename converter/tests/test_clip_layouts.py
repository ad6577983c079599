"""Every supported CLIP checkpoint layout, made by the real library that writes it, converts to canonical tensors on
which the reference forward (clip_ref) reproduces that library's own normalised embeddings."""

import json

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from clipgen_convert import clip, clip_ref, synth_clip  # noqa: E402
from clipgen_convert.component import ConversionError  # noqa: E402

open_clip = synth_clip.import_open_clip()

#: float32 forward passes of the same weights in a different operation order (fused vs split attention) agree to
#: a few ulp of the unit-length embedding.
EMBED_TOL = 1e-5
PROMPTS = ["a diagram", "a photo of a cat sitting on a red sofa", "3 red apples on a wooden table"]


def _ids(component):
    tokenizer = clip_ref.Tokenizer(component)
    return torch.tensor([tokenizer(p) for p in PROMPTS])


def _pixels(component):
    """The verify images in [0, 1] and the same images normalised as a library's model input expects."""
    images = clip_ref.verify_images(component.meta["vision.image_size"])
    mean = torch.tensor(component.meta["vision.image_mean"]).view(3, 1, 1)
    std = torch.tensor(component.meta["vision.image_std"]).view(3, 1, 1)
    return images, (images - mean) / std


def _assert_open_clip_parity(component, model):
    ids = _ids(component)
    assert torch.equal(ids, open_clip.tokenize(PROMPTS))
    with torch.no_grad():
        expected = model.encode_text(ids, normalize=True)
    got = clip_ref.text_embedding(component, ids)
    assert (got - expected).abs().max() < EMBED_TOL
    if component.meta["has_vision"]:
        images, normalised = _pixels(component)
        with torch.no_grad():
            expected = model.encode_image(normalised, normalize=True)
        assert (clip_ref.image_embedding(component, images) - expected).abs().max() < EMBED_TOL


def _check_canonical_shapes(component):
    m = component.meta
    d, e = m["text.width"], m["embed_dim"]
    assert component.tensors["text.blocks.0.attn.qkv.weight"].shape == (3 * d, d)
    assert component.tensors["text.positional_embedding"].shape == (m["text.context_length"], d)
    if m["text.has_projection"]:
        assert component.tensors["text.projection.weight"].shape == (e, d)
    if m["has_vision"]:
        p, dv = m["vision.patch_size"], m["vision.width"]
        assert component.tensors["vision.patch_embed.weight"].shape == (dv, p, p, 3)
        assert component.tensors["vision.projection.weight"].shape == (e, dv)
    assert all(a.dtype == np.float32 for a in component.tensors.values())


def test_openai_state_dict_from_synth(tmp_path):
    path = synth_clip.write(str(tmp_path), "tiny", seed=0)
    c = clip.load(path)
    assert c.meta["layout"] == "openai" and c.meta["text.activation"] == "quick_gelu"
    assert c.meta["embed_dim"] == synth_clip.TINY_EMBED_DIM and c.meta["has_vision"]
    assert (c.meta["text.width"], c.meta["text.heads"], c.meta["text.layers"]) == (128, 2, 2)
    assert (c.meta["vision.image_size"], c.meta["vision.patch_size"]) == (32, 16)
    _check_canonical_shapes(c)
    _assert_open_clip_parity(c, synth_clip.build("tiny", seed=0))
    with pytest.raises(ConversionError, match="uses quick_gelu, but --clip-activation gelu"):
        clip.load(path, activation="gelu")


def test_hfailab_wrapped_openai_state_dict(tmp_path):
    """HFAiLab/clip-gen's clip_vit_b32.pt: {'model': OpenAI state dict, ...}."""
    model = synth_clip.build("tiny", seed=4)
    torch.save({"model": synth_clip.openai_state_dict(model), "epoch": 7}, tmp_path / "clip_vit_b32.pt")
    c = clip.load(str(tmp_path / "clip_vit_b32.pt"))
    assert c.meta["layout"] == "openai"
    _assert_open_clip_parity(c, model)


def test_open_clip_training_checkpoint_needs_the_activation(tmp_path):
    """open_clip's training checkpoints: {'epoch', 'name', 'state_dict': DDP 'module.' keys}; GELU, not recorded."""
    model = synth_clip.build("tiny", seed=1, quick_gelu=False)
    sd = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 3, "name": "tiny", "state_dict": sd}, tmp_path / "epoch_3.pt")
    with pytest.raises(ConversionError, match="does not record its MLP activation.*--clip-activation"):
        clip.load(str(tmp_path / "epoch_3.pt"))
    c = clip.load(str(tmp_path / "epoch_3.pt"), activation="gelu")
    assert c.meta["layout"] == "open_clip" and c.meta["text.activation"] == "gelu"
    _assert_open_clip_parity(c, model)


def test_open_clip_custom_text(tmp_path):
    model = synth_clip.build("tiny", seed=2, quick_gelu=False, custom_text=True)
    assert type(model).__name__ == "CustomTextCLIP"
    torch.save(model.state_dict(), tmp_path / "custom.pt")
    c = clip.load(str(tmp_path / "custom.pt"), activation="gelu")
    assert c.meta["layout"] == "open_clip-custom-text"
    _check_canonical_shapes(c)
    _assert_open_clip_parity(c, model)


def _torchscript_archive(path, seed):
    """A TorchScript archive laid out like OpenAI's released ViT .pt files, made by open_clip and torch.jit.

    OpenAI's files are torch.jit archives of openai/CLIP's model class; open_clip's CLIP is the same module tree
    with the same parameter names (open_clip.load_openai_model loads OpenAI's files into it). Like OpenAI's export
    this one has fp16 matrices (open_clip's convert_weights_to_fp16, the cast openai/CLIP's build_model applies),
    the input_resolution / context_length / vocab_size entries in its state dict, and the causal mask as a plain
    attribute rather than a buffer, so that open_clip.load_openai_model reads it as it reads OpenAI's.
    """
    model = synth_clip.build("tiny", seed=seed)
    open_clip.model.convert_weights_to_fp16(model)
    mask = model._buffers.pop("attn_mask")
    model.attn_mask = mask
    for key, value in synth_clip.openai_state_dict(model).items():
        if key in clip.OPENAI_MARKERS:
            model.__dict__.pop(key, None)  # open_clip keeps context_length and vocab_size as plain ints
            model.register_buffer(key, value)
    torch.jit.save(torch.jit.script(model), str(path))


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated, OpenAI's files still use it
def test_openai_torchscript_archive(tmp_path):
    path = tmp_path / "ViT-tiny.pt"
    _torchscript_archive(path, seed=3)
    c = clip.load(str(path))
    assert c.meta["layout"] == "openai-torchscript" and c.meta["text.activation"] == "quick_gelu"
    _check_canonical_shapes(c)
    _assert_open_clip_parity(c, open_clip.load_openai_model(str(path), device="cpu"))


def _hf_config(act="quick_gelu"):
    text = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=2, num_attention_heads=2,
                vocab_size=49408, max_position_embeddings=77, hidden_act=act, eos_token_id=49407, projection_dim=64)
    vision = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                  image_size=32, patch_size=16, hidden_act=act)
    return transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=64)


def _hf_text_embedding(model, ids):
    with torch.no_grad():
        if isinstance(model, transformers.CLIPModel):
            out = model.get_text_features(input_ids=ids)  # a tensor in transformers 4, an output object in 5
            out = out if isinstance(out, torch.Tensor) else out.pooler_output
        elif isinstance(model, transformers.CLIPTextModelWithProjection):
            out = model(input_ids=ids).text_embeds
        else:
            out = model(input_ids=ids).pooler_output
    return torch.nn.functional.normalize(out, dim=-1)


@pytest.mark.parametrize("cls, act, layout", [
    ("CLIPModel", "quick_gelu", "hf-clip"),
    ("CLIPTextModelWithProjection", "gelu", "hf-clip-text-projection"),
    ("CLIPTextModel", "gelu", "hf-clip-text"),
])
def test_hugging_face(tmp_path, cls, act, layout):
    torch.manual_seed(5)
    config = _hf_config(act)
    model_cls = getattr(transformers, cls)
    model = model_cls(config if cls == "CLIPModel" else config.text_config).eval()
    model.save_pretrained(tmp_path)
    c = clip.load(str(tmp_path / "model.safetensors"))
    assert c.meta["layout"] == layout and c.meta["text.activation"] == act
    assert c.meta["has_vision"] == (cls == "CLIPModel")
    assert c.meta["embed_dim"] == (128 if layout == "hf-clip-text" else 64)
    _check_canonical_shapes(c)
    ids = _ids(c)
    assert (clip_ref.text_embedding(c, ids) - _hf_text_embedding(model, ids)).abs().max() < EMBED_TOL
    if cls == "CLIPModel":
        assert c.meta["vision.heads"] == 4  # from config.json, not the width / 64 rule
        images, normalised = _pixels(c)
        with torch.no_grad():
            out = model.get_image_features(pixel_values=normalised)
        expected = torch.nn.functional.normalize(out if isinstance(out, torch.Tensor) else out.pooler_output, dim=-1)
        assert (clip_ref.image_embedding(c, images) - expected).abs().max() < EMBED_TOL
        with pytest.raises(ConversionError, match="uses quick_gelu, but --clip-activation gelu"):
            clip.load(str(tmp_path / "model.safetensors"), activation="gelu")


def test_hugging_face_config_rules(tmp_path):
    transformers.CLIPTextModel(_hf_config().text_config).save_pretrained(tmp_path)
    weights = str(tmp_path / "model.safetensors")
    config = json.loads((tmp_path / "config.json").read_text())
    del config["layer_norm_eps"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConversionError, match="config.json has no 'layer_norm_eps'"):
        clip.load(weights)
    (tmp_path / "config.json").unlink()
    with pytest.raises(ConversionError, match="needs its config.json beside it"):
        clip.load(weights)

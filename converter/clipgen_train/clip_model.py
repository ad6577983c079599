"""The CLIP of the recipe: built by open_clip from a config, read back from OpenAI / open_clip checkpoints, and the
image preprocessing every stage shares. Imports no caption code (the transformer stage uses it).

Checkpoints are written in OpenAI's state-dict layout by clipgen_convert.synth_clip.openai_state_dict (the one
table of that layout), so the converter detects them from their key names. OpenAI's layout implies QuickGELU; a
model trained with exact GELU is written as a plain open_clip state dict instead, which the converter reads with
--clip-activation gelu (`clipgen-train all` passes it).
"""

from __future__ import annotations

import logging
import os
import warnings
import zipfile

import torch
import torch.nn.functional as F

from clipgen_convert.checkpoint import save_atomic  # noqa: F401  (the stages import it from here)
from clipgen_convert.clip import OPENAI_MARKERS, OPENAI_MEAN, OPENAI_STD
from clipgen_convert.synth_clip import import_open_clip, openai_state_dict
from clipgen_train.data import TrainingDataError

HEAD_WIDTH = 64  # OpenAI's rule, which the converter applies to OpenAI-named checkpoints: heads = width / 64

#: open_clip model configs (the schema of open_clip/model_configs/*.json), by preset.
PRESETS = {
    # tests: one block per tower, seconds per run
    "tiny": dict(embed_dim=64, vision_cfg=dict(image_size=32, layers=1, width=64, patch_size=16),
                 text_cfg=dict(context_length=32, vocab_size=49408, width=64, layers=1)),
    # the bundled model: 64x64 images in 8x8 patches
    "small": dict(embed_dim=128, vision_cfg=dict(image_size=64, layers=4, width=128, patch_size=8),
                  text_cfg=dict(context_length=32, vocab_size=49408, width=128, layers=4)),
}
PRESETS["small-f4"] = PRESETS["deep-f4"] = PRESETS["small"]  # the presets differ in the VQGAN and the transformer



def build(config: dict, quick_gelu: bool) -> torch.nn.Module:
    """A randomly initialised open_clip CLIP (fp32) for `config`; heads are width / 64 in both towers."""
    open_clip = import_open_clip()
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    for tower in ("vision_cfg", "text_cfg"):
        if config[tower]["width"] % HEAD_WIDTH:
            raise TrainingDataError(f"CLIP {tower} width {config[tower]['width']} is not a multiple of {HEAD_WIDTH}")
    vision = CLIPVisionCfg(**config["vision_cfg"], head_width=HEAD_WIDTH)
    text = CLIPTextCfg(**config["text_cfg"], heads=config["text_cfg"]["width"] // HEAD_WIDTH)
    return open_clip.model.CLIP(config["embed_dim"], vision_cfg=vision, text_cfg=text, quick_gelu=quick_gelu)


def export_state_dict(model: torch.nn.Module, quick_gelu: bool) -> dict:
    """The state dict to hand to the converter: OpenAI's layout (with its markers) for QuickGELU models."""
    return openai_state_dict(model) if quick_gelu else dict(model.state_dict())


def load(path: str, activation: str | None = None) -> tuple[torch.nn.Module, bool]:
    """(fp32 open_clip model in eval mode, quick_gelu) from an OpenAI TorchScript archive, an OpenAI / open_clip
    state dict (optionally under 'model' or 'state_dict', as HFAiLab's and open_clip's training files keep it), or a
    clipgen model file (its CLIP component, dequantised).

    The activation comes from the OpenAI markers (QuickGELU) or `activation` ("quick_gelu" | "gelu")."""
    if not os.path.isfile(path):
        raise TrainingDataError(f"--clip {path}: no such file")
    open_clip = import_open_clip()
    if zipfile.is_zipfile(path) and any(n.endswith("constants.pkl") for n in zipfile.ZipFile(path).namelist()):
        model = open_clip.load_openai_model(path, precision="fp32", device="cpu", jit=False)
        return model.float().eval(), True
    model_file = is_model_file(path)
    if model_file:
        sd = _state_dict_of_model_file(path)
    else:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
            raise TrainingDataError(f"--clip {path}: cannot read the checkpoint ({type(e).__name__}: {e})") from None
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    if "token_embedding.weight" not in sd or "visual.proj" not in sd:
        raise TrainingDataError(f"--clip {path}: expected an OpenAI / open_clip ViT state dict with "
                                "token_embedding.weight and visual.proj (HF and CustomTextCLIP layouts: convert "
                                "them to open_clip's first)")
    has_markers = all(k in sd for k in OPENAI_MARKERS)
    if activation is None and not has_markers:
        raise TrainingDataError(f"--clip {path}: the checkpoint does not record its MLP activation; pass "
                                "--clip-activation quick_gelu or gelu")
    quick_gelu = activation == "quick_gelu" if activation else True
    model = build(_config_from_state_dict(sd), quick_gelu)
    for key in OPENAI_MARKERS:
        sd.pop(key, None)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    unexpected = [k for k in unexpected if k != "attn_mask"]
    if model_file:  # a model file has no contrastive temperature: open_clip's initial one stays
        missing = [k for k in missing if k != "logit_scale"]
    if missing or unexpected:
        raise TrainingDataError(f"--clip {path}: keys do not fit the inferred model: missing {missing[:5]}, "
                                f"unexpected {unexpected[:5]}")
    return model.eval(), quick_gelu


def is_model_file(path: str) -> bool:
    """Whether `path` is a clipgen model file (GGUF) rather than a checkpoint; False where it cannot be read, so
    the checkpoint reader names the problem."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:
        return False


def _state_dict_of_model_file(path: str) -> dict:
    """The CLIP of a clipgen model file (clipgen-convert's output, e.g. the bundled model), dequantised to float32,
    as an OpenAI-layout state dict: a converted model's CLIP can be trained further or reused by another stage."""
    from clipgen_convert.clip import openai_state_dict_from_component
    from clipgen_convert.writer import read_component

    try:
        sd = openai_state_dict_from_component(read_component(path, "clip"))
    except Exception as e:  # noqa: BLE001 - a file without a usable CLIP is the same user error
        raise TrainingDataError(f"--clip {path}: cannot read a CLIP from the model file ({e})") from None
    return {k: torch.from_numpy(v) for k, v in sd.items()}


def config_of(model: torch.nn.Module) -> dict:
    """The PRESETS-style config of a built or loaded model (what `build` would need to make it again)."""
    return _config_from_state_dict({k: v for k, v in model.state_dict().items()})


def _config_from_state_dict(sd: dict) -> dict:
    """The open_clip config of an OpenAI-named ViT state dict (open_clip's build_model_from_openai_state_dict rule)."""
    patch = sd["visual.conv1.weight"].shape[-1]
    grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    return dict(embed_dim=sd["text_projection"].shape[1],
                vision_cfg=dict(image_size=patch * grid, layers=_blocks(sd, "visual.transformer.resblocks."),
                                width=sd["visual.conv1.weight"].shape[0], patch_size=patch),
                text_cfg=dict(context_length=sd["positional_embedding"].shape[0],
                              vocab_size=sd["token_embedding.weight"].shape[0], width=sd["ln_final.weight"].shape[0],
                              layers=_blocks(sd, "transformer.resblocks.")))


def _blocks(sd: dict, prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in sd if k.startswith(prefix)})


def pixels(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images [N, 3, H, W] in [0, 1] -> CLIP input [N, 3, size, size]: bicubic resize when H != size, then OpenAI's
    per-channel normalisation (what the converter records for the runtime's reranker). Differentiable."""
    if images.shape[-1] != size or images.shape[-2] != size:
        images = F.interpolate(images, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    mean = images.new_tensor(OPENAI_MEAN)[:, None, None]  # [3, 1, 1]
    std = images.new_tensor(OPENAI_STD)[:, None, None]  # [3, 1, 1]
    return (images - mean) / std  # [N, 3, size, size]


def image_size(model: torch.nn.Module) -> int:
    size = model.visual.image_size
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def tokenizer(context_length: int):
    """open_clip's BPE tokenizer (the one the converter ships and the runtime ports) at the model's context."""
    open_clip = import_open_clip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            tok = open_clip.tokenizer.SimpleTokenizer(context_length=context_length)
        finally:
            logging.disable(logging.NOTSET)
    return tok

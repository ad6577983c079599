"""CLIP checkpoints -> the canonical CLIP component: text tower, ViT image tower when present, BPE tokenizer.

The source layout is detected from key names, never from the file name (docs/model-clip.md lists them):

    openai-torchscript  OpenAI's released .pt: a TorchScript archive of openai/CLIP's model class, fp16 weights
    openai              an OpenAI state dict: OpenAI key names plus the input_resolution / context_length /
                        vocab_size entries only OpenAI's exports carry (HFAiLab's clip_vit_b32.pt wraps one in 'model')
    open_clip           an open_clip CLIP state dict: the same key names without those entries
    open_clip-custom-text  an open_clip CustomTextCLIP state dict: the text tower under `text.`
    hf-clip, hf-clip-text-projection, hf-clip-text
                        transformers CLIPModel, CLIPTextModelWithProjection, CLIPTextModel (+ config.json beside it)

Every tensor is renamed through the one table `NAMES`, checked against the shape the hyper-parameters imply, and
converted to canonical order (Linear [out, in]; conv [out, kh, kw, in]). The MLP activation is the one fact the
OpenAI-named state dicts do not record: it comes from the TorchScript code, the OpenAI export marker or HF's
config, or else must be given (`activation`, CLI --clip-activation); a conflict between the two is an error.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
import zipfile

import numpy as np
from clipgen_convert.clip_vocab import tokenizer
from clipgen_convert.component import Component, ConversionError

ACTIVATIONS = ("quick_gelu", "gelu")
#: OpenAI's rule for heads (openai/CLIP build_model, open_clip build_model_from_openai_state_dict): 64 per head.
HEAD_WIDTH = 64
OPENAI_LN_EPS = 1e-5
OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]
#: Scalar entries OpenAI's exports put in the state dict (openai/CLIP and open_clip both drop them when loading).
OPENAI_MARKERS = ("input_resolution", "context_length", "vocab_size")
#: Source keys that hold no weights the runtime needs: the contrastive temperature and HF's position id buffers.
DROPPED = ("logit_scale", "text_model.embeddings.position_ids", "vision_model.embeddings.position_ids")

# The one name table. Each row: tower ("text", "vision", or "block" for rows repeated per transformer block of
# either tower), canonical name, then per source family (OpenAI names; HF names) the source template and how the
# source tensor becomes the canonical one: "" as is, "T" transposed (OpenAI projections are x @ P, P [width, embed]),
# "conv" PyTorch [out, in, kh, kw] -> [out, kh, kw, in], "qkv" HF's q, k, v Linears stacked into one [3d, d].
# "{t}" is the tower's source prefix, "{b}" the block's.
NAMES = [
    ("text", "token_embedding.weight", "{t}token_embedding.weight", "", "{t}embeddings.token_embedding.weight", ""),
    ("text", "positional_embedding", "{t}positional_embedding", "", "{t}embeddings.position_embedding.weight", ""),
    ("text", "ln_final.weight", "{t}ln_final.weight", "", "{t}final_layer_norm.weight", ""),
    ("text", "ln_final.bias", "{t}ln_final.bias", "", "{t}final_layer_norm.bias", ""),
    ("text", "projection.weight", "{t}text_projection", "T", "text_projection.weight", ""),
    ("vision", "patch_embed.weight", "{t}conv1.weight", "conv", "{t}embeddings.patch_embedding.weight", "conv"),
    ("vision", "class_embedding", "{t}class_embedding", "", "{t}embeddings.class_embedding", ""),
    ("vision", "positional_embedding", "{t}positional_embedding", "", "{t}embeddings.position_embedding.weight", ""),
    ("vision", "ln_pre.weight", "{t}ln_pre.weight", "", "{t}pre_layrnorm.weight", ""),
    ("vision", "ln_pre.bias", "{t}ln_pre.bias", "", "{t}pre_layrnorm.bias", ""),
    ("vision", "ln_post.weight", "{t}ln_post.weight", "", "{t}post_layernorm.weight", ""),
    ("vision", "ln_post.bias", "{t}ln_post.bias", "", "{t}post_layernorm.bias", ""),
    ("vision", "projection.weight", "{t}proj", "T", "visual_projection.weight", ""),
    ("block", "ln_1.weight", "{b}ln_1.weight", "", "{b}layer_norm1.weight", ""),
    ("block", "ln_1.bias", "{b}ln_1.bias", "", "{b}layer_norm1.bias", ""),
    ("block", "attn.qkv.weight", "{b}attn.in_proj_weight", "", "{b}self_attn.{x}_proj.weight", "qkv"),
    ("block", "attn.qkv.bias", "{b}attn.in_proj_bias", "", "{b}self_attn.{x}_proj.bias", "qkv"),
    ("block", "attn.out.weight", "{b}attn.out_proj.weight", "", "{b}self_attn.out_proj.weight", ""),
    ("block", "attn.out.bias", "{b}attn.out_proj.bias", "", "{b}self_attn.out_proj.bias", ""),
    ("block", "ln_2.weight", "{b}ln_2.weight", "", "{b}layer_norm2.weight", ""),
    ("block", "ln_2.bias", "{b}ln_2.bias", "", "{b}layer_norm2.bias", ""),
    ("block", "mlp.fc.weight", "{b}mlp.c_fc.weight", "", "{b}mlp.fc1.weight", ""),
    ("block", "mlp.fc.bias", "{b}mlp.c_fc.bias", "", "{b}mlp.fc1.bias", ""),
    ("block", "mlp.proj.weight", "{b}mlp.c_proj.weight", "", "{b}mlp.fc2.weight", ""),
    ("block", "mlp.proj.bias", "{b}mlp.c_proj.bias", "", "{b}mlp.fc2.bias", ""),
]
#: (tower, canonical name) -> (OpenAI template, conversion, HF template, conversion), from NAMES.
ROWS = {(tower, canonical): tuple(cols) for tower, canonical, *cols in NAMES}
#: Source prefixes per layout family: tower prefix and block prefix ("{i}" = block index) of text and vision.
PREFIXES = {
    "openai": {"text": ("", "transformer.resblocks.{i}."), "vision": ("visual.", "visual.transformer.resblocks.{i}.")},
    "custom": {"text": ("text.", "text.transformer.resblocks.{i}."),
               "vision": ("visual.", "visual.transformer.resblocks.{i}.")},
    "hf": {"text": ("text_model.", "text_model.encoder.layers.{i}."),
           "vision": ("vision_model.", "vision_model.encoder.layers.{i}.")},
    "hf-bare": {"text": ("", "encoder.layers.{i}.")},  # transformers >= 5 saves CLIPTextModel without text_model.
}

def load(path: str, *, bpe_path: str | None = None, activation: str | None = None) -> Component:
    """Reads a CLIP checkpoint of any supported layout into the canonical component.

    Args:
        path: the checkpoint (.pt pickle or TorchScript archive, .safetensors; HF needs its config.json beside it).
        bpe_path: the CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz); default: the one in the open_clip wheel.
        activation: "quick_gelu" or "gelu", required where the file does not record the MLP activation.
    """
    if activation is not None and activation not in ACTIVATIONS:
        raise ConversionError(f"--clip-activation {activation!r}: expected one of {', '.join(ACTIVATIONS)}")
    sd, scripted_act = _read_state_dict(path)
    layout, family = _detect(path, sd)
    hf = family.startswith("hf")
    config = _hf_config(path) if hf else {}
    vision = "vision" in PREFIXES[family] and any(k.startswith(PREFIXES[family]["vision"][0]) for k in sd)
    if layout == "hf-clip" and not vision:
        raise ConversionError(f"{path}: has visual_projection.weight but no vision_model.* weights")
    towers = ["text", "vision"] if vision else ["text"]
    implied = {"openai-torchscript": scripted_act, "openai": "quick_gelu"}.get(layout)
    if hf:
        implied = _hf_activation(path, config, towers)
    act = _activation(path, layout, implied, activation)

    meta: dict[str, object] = {"layout": layout, "has_vision": vision, "normalize": "l2"}
    tensors: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for tower in towers:
        tensors.update(_tower(_Source(path, sd, family, tower, layout, used), config, act, meta))
    embed = tensors["text.projection.weight"].shape[0] if meta["text.has_projection"] else meta["text.width"]
    if vision and tensors["vision.projection.weight"].shape[0] != embed:
        raise ConversionError(f"{path}: the image embedding width {tensors['vision.projection.weight'].shape[0]} "
                              f"differs from the text embedding width {embed}")
    meta["embed_dim"] = int(embed)
    _check_leftovers(path, sd, used, meta["text.context_length"])

    extra_kv, tokenizer_meta = tokenizer(bpe_path)
    n_tokens = len(extra_kv["tokenizer.ggml.tokens"][0])
    if n_tokens != meta["text.vocab_size"]:
        raise ConversionError(f"{path}: the token embedding has {meta['text.vocab_size']} rows but the CLIP BPE "
                              f"vocabulary has {n_tokens} tokens")
    meta.update(tokenizer_meta)
    return Component(kind="clip", tensors=tensors, meta=meta, source=path, extra_kv=extra_kv)


def _read_state_dict(path: str) -> tuple[dict[str, np.ndarray], str | None]:
    """The file's tensors as float32 arrays, and the activation its TorchScript code names (None otherwise)."""
    if not os.path.isfile(path):
        raise ConversionError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) == 9 and head[8:9] == b"{":  # safetensors: u64 header length, then the JSON header
        return _read_safetensors(path), None
    try:
        import torch
    except ImportError:
        raise ConversionError(f"{path}: reading a PyTorch checkpoint needs torch: pip install './converter[torch]'")
    scripted = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit's deprecation and pickle-protocol notes are not for the user
            if _is_torchscript(path):
                module = torch.jit.load(path, map_location="cpu")
                # The MLP activation is a module of its own in openai/CLIP's (and open_clip's) blocks: its class
                # name survives in the archive's code.
                acts = {m.original_name for n, m in module.named_modules() if n.endswith("mlp.gelu")}
                if len(acts) == 1:
                    scripted = {"QuickGELU": "quick_gelu", "GELU": "gelu"}.get(acts.pop())
                obj = module.state_dict()
            else:
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch reports truncation, bad zips and forbidden pickle globals all differently
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConversionError(f"{path}: not a readable PyTorch checkpoint (truncated, corrupt, or a pickle of "
                              f"objects other than tensors): {reason}")
    for wrapper in ("state_dict", "model"):  # Lightning / open_clip training checkpoints; HFAiLab's {'model': sd}
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict) or not obj:
        raise ConversionError(f"{path}: expected a state dict (a dict of tensors), got {type(obj).__name__}")
    sd = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise ConversionError(f"{path}: state dict entry '{key}' is a {type(value).__name__}, expected a tensor")
        sd[key] = value.detach().float().numpy()
    if all(k.startswith("module.") for k in sd):  # saved from DistributedDataParallel
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd, scripted


def _is_torchscript(path: str) -> bool:
    """TorchScript archives are zips like torch.save's, but carry the model's code."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any("/code/" in n for n in z.namelist())


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(path, framework="numpy") as f:
            return {k: np.asarray(f.get_tensor(k), dtype=np.float32) for k in f.keys()}
    except (SafetensorError, OSError, TypeError, ValueError) as e:  # bf16 has no numpy type
        raise ConversionError(f"{path}: not a readable float16/float32 safetensors file: {e}")


def _detect(path: str, sd: dict) -> tuple[str, str]:
    """(layout, family) from the key names; an error that says what was looked for otherwise."""
    keys = set(sd)
    if any(k.startswith("text_model.") for k in keys):
        layout = ("hf-clip" if "visual_projection.weight" in keys else
                  "hf-clip-text-projection" if "text_projection.weight" in keys else "hf-clip-text")
        return layout, "hf"
    if "embeddings.token_embedding.weight" in keys and "final_layer_norm.weight" in keys:
        return "hf-clip-text", "hf-bare"
    if any(k.startswith(("visual.trunk.", "visual.layer1.", "visual.attnpool.")) for k in keys):
        raise ConversionError(f"{path}: the image tower is a timm or ResNet model; only ViT image towers "
                              "(visual.conv1.weight, visual.transformer.*) are supported")
    if "text.token_embedding.weight" in keys:
        return "open_clip-custom-text", "custom"
    if "token_embedding.weight" in keys and "transformer.resblocks.0.attn.in_proj_weight" in keys:
        if _is_torchscript(path):
            return "openai-torchscript", "openai"
        return ("openai" if any(m in keys for m in OPENAI_MARKERS) else "open_clip"), "openai"
    sample = ", ".join(sorted(keys)[:6])
    raise ConversionError(f"{path}: not a known CLIP layout: expected token_embedding.weight + transformer.resblocks.* "
                          f"(OpenAI / open_clip), text.token_embedding.weight (open_clip CustomTextCLIP) or "
                          f"text_model.* (Hugging Face); found keys like {sample}")


def _hf_config(path: str) -> dict:
    cfg_path = os.path.join(os.path.dirname(os.path.abspath(path)), "config.json")
    try:
        with open(cfg_path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ConversionError(f"{path}: a Hugging Face CLIP checkpoint needs its config.json beside it "
                              f"(for hidden_act, layer_norm_eps, num_attention_heads); {cfg_path} does not exist")
    except (OSError, ValueError) as e:
        raise ConversionError(f"{cfg_path}: not readable JSON: {e}")


def _hf_get(path: str, config: dict, tower: str, key: str, required: bool = True) -> object:
    """config.json value `key` of a tower: CLIPModel nests text_config / vision_config, CLIPTextModel is flat."""
    nested = f"{tower}_config" in config
    section = config[f"{tower}_config"] if nested else config if tower == "text" else {}
    if key not in section and required:
        raise ConversionError(f"{path}: config.json has no '{f'{tower}_config.' if nested else ''}{key}'")
    return section.get(key)


def _hf_activation(path: str, config: dict, towers: list[str]) -> str | None:
    acts = {_hf_get(path, config, t, "hidden_act", required=False) for t in towers}
    if len(acts) > 1:
        raise ConversionError(f"{path}: config.json gives the towers different activations: {sorted(map(str, acts))}")
    act = acts.pop()
    if act is not None and act not in ACTIVATIONS:
        raise ConversionError(f"{path}: config.json hidden_act is {act!r}; supported: {', '.join(ACTIVATIONS)}")
    return act


def _activation(path: str, layout: str, implied: str | None, requested: str | None) -> str:
    if implied and requested and implied != requested:
        raise ConversionError(f"{path}: the {layout} checkpoint uses {implied}, but --clip-activation {requested} "
                              "was given")
    if implied or requested:
        return implied or requested
    raise ConversionError(f"{path}: this {layout} checkpoint does not record its MLP activation; pass "
                          "--clip-activation quick_gelu (OpenAI weights, open_clip '*-quickgelu' models) or "
                          "--clip-activation gelu (other open_clip models)")


class _Source:
    """One tower's view of the source state dict: resolves NAMES templates, records which keys were used."""

    def __init__(self, path: str, sd: dict, family: str, tower: str, layout: str, used: set):
        self.path, self.sd, self.family, self.tower, self.layout, self.used = path, sd, family, tower, layout, used
        self.prefix, self.block_prefix = PREFIXES[family][tower]
        pattern = re.compile(re.escape(self.block_prefix).replace(r"\{i\}", r"(\d+)"))
        self.layers = 1 + max((int(m.group(1)) for k in sd if (m := pattern.match(k))), default=-1)

    def row(self, tower: str, canonical: str) -> tuple[str, str]:
        """(source template, conversion) of a NAMES row for this layout family."""
        cols = ROWS[(tower, canonical)]
        return cols[2:4] if self.family.startswith("hf") else cols[0:2]

    def name(self, template: str, block: int = 0, part: str = "") -> str:
        return (template.replace("{t}", self.prefix).replace("{b}", self.block_prefix.format(i=block))
                .replace("{x}", part))

    def get(self, name: str) -> np.ndarray:
        if name not in self.sd:
            raise ConversionError(f"{self.path}: missing key '{name}' ({self.layout} layout, {self.tower} tower)")
        self.used.add(name)
        return self.sd[name]

    def tensor(self, tower: str, canonical: str, ndim: int) -> np.ndarray:
        """The source tensor of a row (block 0 for block rows), unconverted: its shape gives hyper-parameters."""
        name = self.name(self.row(tower, canonical)[0])
        array = self.get(name)
        if array.ndim != ndim:
            raise ConversionError(f"{self.path}: key '{name}' has shape {list(array.shape)}, expected {ndim} dims")
        return array

    def canonical(self, tower: str, canonical: str, block: int, want: tuple[int, ...]) -> np.ndarray:
        """The row's tensor converted to canonical order, after checking the source shape that `want` implies."""
        template, how = self.row(tower, canonical)
        source_shape = want
        if how == "T":
            source_shape = want[::-1]
        elif how == "conv":
            source_shape = (want[0], want[3], want[1], want[2])
        elif how == "qkv":
            source_shape = (want[0] // 3, *want[1:])
        parts = [self.name(template, block, x) for x in ("qkv" if how == "qkv" else "_")]
        arrays = [self.get(n) for n in parts]
        for n, a in zip(parts, arrays):
            if a.shape != tuple(source_shape):
                raise ConversionError(f"{self.path}: key '{n}' has shape {list(a.shape)}, "
                                      f"expected {list(source_shape)}")
        array = np.concatenate(arrays) if how == "qkv" else arrays[0]  # [3d, d]: q, k, v stacked
        if how == "T":
            array = array.T
        elif how == "conv":
            array = array.transpose(0, 2, 3, 1)  # [out, in, kh, kw] -> [out, kh, kw, in]
        return np.ascontiguousarray(array, dtype=np.float32)


def _tower(src: _Source, config: dict, act: str, meta: dict) -> dict[str, np.ndarray]:
    """One tower's canonical tensors; fills meta["<tower>.*"] from the shapes (and HF's config)."""
    path, tower, hf = src.path, src.tower, src.family.startswith("hf")
    if src.layers == 0:
        raise ConversionError(f"{path}: no {tower} transformer blocks ({src.block_prefix.format(i=0)}*)")
    mlp = src.tensor("block", "mlp.fc.weight", 2).shape[0]
    has_proj = src.layout != "hf-clip-text"  # CLIPTextModel's embedding is the pooled ln_final output
    if tower == "text":
        vocab, width = src.tensor("text", "token_embedding.weight", 2).shape
        positions = src.tensor("text", "positional_embedding", 2).shape[0]
        meta.update({"text.vocab_size": int(vocab), "text.context_length": int(positions),
                     "text.attn_mask": "causal", "text.pooling": "argmax", "text.has_projection": has_proj})
        eos = _hf_get(path, config, "text", "eos_token_id", required=False) if hf else None
        if eos not in (None, 2, vocab - 1):  # HF pools at the first eos_token_id, or at argmax for the legacy 2
            raise ConversionError(f"{path}: config.json eos_token_id {eos} is not CLIP's end of text ({vocab - 1})")
    else:
        width = src.tensor("vision", "class_embedding", 1).shape[0]
        patch = src.tensor("vision", "patch_embed.weight", 4).shape[-1]
        positions = src.tensor("vision", "positional_embedding", 2).shape[0]
        grid = math.isqrt(max(positions - 1, 0))
        if grid == 0 or grid * grid + 1 != positions:
            raise ConversionError(f"{path}: the vision positional embedding has {positions} rows, expected a square "
                                  "grid of patches + 1")
        meta.update({"vision.patch_size": int(patch), "vision.image_size": int(grid * patch),
                     "vision.pooling": "class_token", "vision.preprocess": "resize_bicubic_center_crop",
                     "vision.image_mean": OPENAI_MEAN, "vision.image_std": OPENAI_STD})
        if hf:
            _hf_pixel_stats(path, meta)
    if hf:
        heads = _hf_get(path, config, tower, "num_attention_heads")
        eps = float(_hf_get(path, config, tower, "layer_norm_eps"))
    elif width % HEAD_WIDTH:
        raise ConversionError(f"{path}: {tower} width {width} is not a multiple of {HEAD_WIDTH}, so its head count "
                              "(OpenAI's rule: width / 64) cannot be inferred")
    else:
        heads, eps = width // HEAD_WIDTH, OPENAI_LN_EPS
    if not isinstance(heads, int) or heads <= 0 or width % heads:
        raise ConversionError(f"{path}: {tower} has {heads!r} heads, which do not divide its width {width}")
    meta.update({f"{tower}.width": int(width), f"{tower}.layers": src.layers, f"{tower}.heads": heads,
                 f"{tower}.mlp_width": int(mlp), f"{tower}.ln_eps": eps, f"{tower}.activation": act})

    embed = width
    if has_proj:
        embed = src.tensor(tower, "projection.weight", 2).shape[0 if hf else 1]
    patch = meta.get("vision.patch_size", 0)
    shapes = {"token_embedding.weight": (meta.get("text.vocab_size"), width),
              "positional_embedding": (positions, width),
              "patch_embed.weight": (width, patch, patch, 3), "projection.weight": (embed, width),
              "attn.qkv.weight": (3 * width, width), "attn.qkv.bias": (3 * width,), "attn.out.weight": (width, width),
              "mlp.fc.weight": (mlp, width), "mlp.fc.bias": (mlp,), "mlp.proj.weight": (width, mlp)}

    def shape(canonical: str) -> tuple[int, ...]:
        return shapes.get(canonical, (width,))  # norms and the remaining biases are [width]

    out = {f"{tower}.{c}": src.canonical(tower, c, 0, shape(c))
           for t, c in ROWS if t == tower and (c != "projection.weight" or has_proj)}
    for i in range(src.layers):
        out.update({f"{tower}.blocks.{i}.{c}": src.canonical("block", c, i, shape(c)) for t, c in ROWS if t == "block"})
    return out


def _hf_pixel_stats(path: str, meta: dict) -> None:
    """HF keeps the pixel normalisation in preprocessor_config.json; without one, CLIP's (OpenAI's) values hold."""
    pre = os.path.join(os.path.dirname(os.path.abspath(path)), "preprocessor_config.json")
    if not os.path.isfile(pre):
        return
    try:
        with open(pre, encoding="utf-8") as f:
            cfg = json.load(f)
        mean, std = (cfg.get(k, d) for k, d in (("image_mean", OPENAI_MEAN), ("image_std", OPENAI_STD)))
        meta["vision.image_mean"], meta["vision.image_std"] = [float(v) for v in mean], [float(v) for v in std]
    except (OSError, ValueError, TypeError) as e:
        raise ConversionError(f"{pre}: expected JSON with image_mean and image_std lists: {e}")
    if len(meta["vision.image_mean"]) != 3 or len(meta["vision.image_std"]) != 3:
        raise ConversionError(f"{pre}: image_mean and image_std must have 3 values (RGB)")


def _check_leftovers(path: str, sd: dict, used: set, context: int) -> None:
    """Every source key must have been used or be a known non-weight entry; a causal attn_mask buffer is one
    (TorchScript keeps open_clip's non-persistent mask in the state dict)."""
    left = sorted(k for k in sd if k not in used and k not in DROPPED and k not in OPENAI_MARKERS)
    for key in [k for k in left if k in ("attn_mask", "text.attn_mask")]:
        causal = np.triu(np.full((context, context), -np.inf, dtype=np.float32), 1)
        if sd[key].shape != causal.shape or not np.array_equal(sd[key], causal):
            raise ConversionError(f"{path}: {key} is not the causal mask of {context} positions")
        left.remove(key)
    if left:
        more = f" and {len(left) - 5} more" if len(left) > 5 else ""
        raise ConversionError(f"{path}: unexpected key{'s' if len(left) > 1 else ''} "
                              f"{', '.join(repr(k) for k in left[:5])}{more} (not part of a supported CLIP layout)")


def openai_state_dict_from_component(component: Component) -> dict[str, np.ndarray]:
    """The canonical CLIP component (e.g. read back from a model file) -> an OpenAI-layout state dict.

    The inverse of `load` for the OpenAI family, through the same table `NAMES`, so a converted model's CLIP can be
    trained further (clipgen-train) or checked by open_clip. Only QuickGELU models fit OpenAI's layout (it implies
    that activation); the contrastive temperature is not in a model file, so `logit_scale` is left out.
    """
    meta, tensors = component.meta, component.tensors
    if meta.get("text.activation") != "quick_gelu":
        raise ConversionError(f"{component.source}: its CLIP uses {meta.get('text.activation')!r}; OpenAI's layout "
                              "holds QuickGELU models only")
    if not meta.get("has_vision") or not meta.get("text.has_projection", True):
        raise ConversionError(f"{component.source}: its CLIP has no image tower or no text projection; OpenAI's "
                              "layout needs both")
    undo = {"": lambda a: a, "T": lambda a: a.T, "conv": lambda a: a.transpose(0, 3, 1, 2)}  # canonical -> source
    sd: dict[str, np.ndarray] = {}
    for tower in ("text", "vision"):
        prefix, block_prefix = PREFIXES["openai"][tower]
        for (row_tower, canonical), (template, how, *_hf) in ROWS.items():
            if row_tower == tower:
                name = template.replace("{t}", prefix)
                sd[name] = np.ascontiguousarray(undo[how](tensors[f"{tower}.{canonical}"]))
            elif row_tower == "block":
                for i in range(int(meta[f"{tower}.layers"])):
                    name = template.replace("{b}", block_prefix.format(i=i))
                    sd[name] = np.ascontiguousarray(tensors[f"{tower}.blocks.{i}.{canonical}"])
    sd["input_resolution"] = np.array(int(meta["vision.image_size"]))
    sd["context_length"] = np.array(int(meta["text.context_length"]))
    sd["vocab_size"] = np.array(int(meta["text.vocab_size"]))
    return sd

"""Load the VQGAN decoder and codebook from a taming-transformers or an HFAiLab/clip-gen checkpoint.

The runtime only decodes (token grid -> image), so the codebook, the post-quant conv and the decoder are converted and
the rest is dropped on purpose: the encoder and quant_conv (image -> tokens), taming's ``loss.*`` (LPIPS network and
discriminator weights) and HFAiLab's ``discriminator.*``. With ``encoder=True`` (CLI ``--vqgan-encoder keep``) a
taming-layout encoder and quant_conv are kept as well, under their taming names (the runtime never reads them): a
model file then holds the whole VQGAN, so clipgen-train can turn images into tokens and go on training from the file
alone (`taming_state_dict_from_component` is the inverse). Both layouts hold the same network (taming's
Encoder/Decoder, which HFAiLab rewrote with nn.Sequential, nn.MultiheadAttention and the post-quant conv moved inside
the decoder), so both are mapped onto taming's module names; docs/model-vqgan.md lists every tensor and meta key.

Not in the weights, and where it comes from instead:
- resolution (hence the token grid): the ``resolution`` argument (CLI --vqgan-resolution) if given; else a Lightning
  ``hyper_parameters`` entry (ddconfig.resolution) if the checkpoint has one (taming's VQModel does not save it, so a
  released taming .ckpt needs the argument); for HFAiLab, their Decoder hard-codes attn_resolutions=[16], so the level
  that holds attention blocks sits at 16x16 and fixes the resolution.
- GroupNorm eps: taming's Normalize uses 1e-6, HFAiLab uses nn.GroupNorm's default 1e-5; both use 32 groups and swish.
  A taming-layout checkpoint whose ``hyper_parameters`` ddconfig has ``norm_groups`` (clipgen-train's small VQGAN:
  taming's classes ignore the key, the trainer sets the groups) is converted with that group count.
"""

from __future__ import annotations

import math

import numpy as np

from .checkpoint import Weights, read_torch, state_dict_in
from .component import Component, ConversionError

TAMING, HFAI = 0, 1
LAYOUT_NAMES = ("taming", "hfai-clip-gen")
CONTAINER_KEYS = ("state_dict", "model")
DROPPED_PREFIXES = (("encoder.", "quant_conv.", "loss."), ("encoder.", "discriminator."))
NORM_EPS = (1e-6, 1e-5)
NORM_GROUPS = 32
HFAI_ATTN_RESOLUTION = 16  # models/codec.py Decoder(attn_resolutions=[16]); models/vqgan.py never overrides it

# Every checkpoint name, canonical (taming's) -> (taming, HFAiLab). Module prefixes; the parts follow below.
MODULES = {
    "quantize.embedding": ("quantize.embedding", "quantizer.embedding"),
    "post_quant_conv": ("post_quant_conv", "decoder.quant_conv_in"),
    "decoder.conv_in": ("decoder.conv_in", "decoder.conv_in"),
    "decoder.mid.block_1": ("decoder.mid.block_1", "decoder.mid.0"),
    "decoder.mid.attn_1": ("decoder.mid.attn_1", "decoder.mid.1"),
    "decoder.mid.block_2": ("decoder.mid.block_2", "decoder.mid.2"),
    "decoder.norm_out": ("decoder.norm_out", "decoder.final.0"),
    "decoder.conv_out": ("decoder.conv_out", "decoder.final.2"),
    # decoder.up.I.block.J / .attn.J / .upsample: taming uses these names; HFAiLab numbers one flat nn.Sequential
    # "decoder.up.N" from the lowest resolution up, which _hfai_up_modules maps back to (I, J).
}
RESNET_PARTS = {"norm1": ("norm1", "block.0"), "conv1": ("conv1", "block.2"), "norm2": ("norm2", "block.3"),
                "conv2": ("conv2", "block.6"), "nin_shortcut": ("nin_shortcut", "shortcut")}
# HFAiLab's attention is nn.MultiheadAttention(C, 1 head): q, k, v are rows [0:C], [C:2C], [2C:3C] of
# attn.in_proj_weight / attn.in_proj_bias; proj_out is attn.out_proj.
ATTN_PARTS = {"norm": ("norm", "norm"), "q": ("q", "attn.in_proj"), "k": ("k", "attn.in_proj"),
              "v": ("v", "attn.in_proj"), "proj_out": ("proj_out", "attn.out_proj")}
UPSAMPLE_PARTS = {"conv": ("conv", "conv")}


def load(path: str, *, resolution: int | None = None, encoder: bool = False) -> Component:
    """Read a VQGAN checkpoint (layout detected from its container and key names) into canonical tensors + meta;
    with `encoder`, its encoder and quant_conv too (taming layout only)."""
    container = read_torch(path)
    layout = _detect(container, path)
    weights = state_dict_in(container, CONTAINER_KEYS[layout], path, LAYOUT_NAMES[layout])
    encoder_tensors = _take_encoder(weights, layout, path) if encoder else {}
    weights.ignore(DROPPED_PREFIXES[layout])
    up = _taming_up_modules(weights) if layout == TAMING else _hfai_up_modules(weights)
    tensors, meta = _Converter(weights, layout, up).run()
    weights.finish()
    if encoder:
        tensors.update(encoder_tensors)
        meta.update(has_encoder=True, encoder_codes=_recorded_codes(container, path))
    levels = len(meta["ch_mult"])
    if resolution is None:
        resolution = _recorded_resolution(container, layout, meta["attn_per_level"], path)
    if resolution <= 0 or resolution % 2 ** (levels - 1):
        raise ConversionError(f"{path}: resolution {resolution} is not a positive multiple of 2^{levels - 1} "
                              f"({levels} decoder levels)")
    grid = resolution // 2 ** (levels - 1)
    groups = _recorded_norm_groups(container, layout, path)
    for c in {int(meta["ch"]) * m for m in meta["ch_mult"]}:
        if c % groups:
            raise ConversionError(f"{path}: hyper_parameters ddconfig.norm_groups {groups} does not divide the "
                                  f"decoder's {c} channels")
    meta.update(resolution=resolution, grid=[grid, grid], source_layout=LAYOUT_NAMES[layout],
                norm_groups=groups, norm_eps=NORM_EPS[layout], activation="swish",
                pixel_mean=0.5, pixel_std=0.5)  # decoder output x in [-1, 1]; pixel = x * std + mean
    return Component(kind="vqgan", tensors=tensors, meta=meta, source=path)


ENCODER_PREFIXES = ("encoder.", "quant_conv.")
CODE_RULES = ("euclidean", "cosine")


def _take_encoder(weights: Weights, layout: int, path: str) -> dict[str, np.ndarray]:
    """Every encoder and quant_conv tensor under its taming name, conv weights as [out, kh, kw, in] like the
    decoder's. Their shapes are checked when clipgen-train rebuilds the network from the file's metadata."""
    if layout != TAMING:
        raise ConversionError(f"{path}: --vqgan-encoder keep reads taming-layout checkpoints only, this one is "
                              f"{LAYOUT_NAMES[layout]}")
    keys = [k for prefix in ENCODER_PREFIXES for k in weights.keys_under(prefix)]
    for needed in ("encoder.conv_in.weight", "encoder.conv_out.weight", "quant_conv.weight"):
        if needed not in keys:
            raise ConversionError(f"{path}: --vqgan-encoder keep: the checkpoint has no '{needed}' (no encoder?)")
    tensors = {}
    for key in keys:
        array = weights.take(key, (None,) * len(weights.shape(key)))
        tensors[key] = np.ascontiguousarray(array.transpose(0, 2, 3, 1)) if array.ndim == 4 else array
    return tensors


def _recorded_codes(container: dict, path: str) -> str:
    """How the encoder's outputs pick codes: ddconfig.codes of clipgen-train's checkpoints, else taming's rule."""
    codes = _recorded_ddconfig(container, TAMING).get("codes", "euclidean")
    if codes not in CODE_RULES:
        raise ConversionError(f"{path}: hyper_parameters ddconfig.codes must be one of {', '.join(CODE_RULES)} "
                              f"(got {codes!r})")
    return codes


def taming_state_dict_from_component(component: Component) -> tuple[dict[str, np.ndarray], dict]:
    """A VQGAN component holding its encoder (read back from a model file converted with --vqgan-encoder keep) ->
    (taming VQModel state dict, {'n_embed', 'embed_dim', 'ddconfig'}), the hyper-parameters clipgen-train builds
    the network from (ddconfig.norm_groups and .codes are clipgen-train's keys; taming's classes ignore them)."""
    tensors, meta = component.tensors, component.meta
    if not meta.get("has_encoder"):
        raise ConversionError(f"{component.source}: its VQGAN has no encoder (the file was converted without "
                              f"--vqgan-encoder keep), so it can decode tokens but not make them from images")
    for needed in ("encoder.conv_in.weight", "encoder.conv_out.weight", "quantize.embedding.weight"):
        if needed not in tensors:
            raise ConversionError(f"{component.source}: its VQGAN encoder lacks '{needed}'")
    sd = {k: np.ascontiguousarray(v.transpose(0, 3, 1, 2)) if v.ndim == 4 else v for k, v in tensors.items()}
    ch = int(sd["encoder.conv_in.weight"].shape[0])  # taming's Encoder: conv_in in_channels -> ch
    widths = [int(meta["ch"]) * int(m) for m in meta["ch_mult"]]
    if any(w % ch for w in widths):
        raise ConversionError(f"{component.source}: decoder widths {widths} are not multiples of the encoder's "
                              f"{ch} channels")
    z_channels, resolution = int(meta["z_channels"]), int(meta["resolution"])
    ddconfig = dict(double_z=int(sd["encoder.conv_out.weight"].shape[0]) == 2 * z_channels, z_channels=z_channels,
                    resolution=resolution, in_channels=int(sd["encoder.conv_in.weight"].shape[1]),
                    out_ch=int(sd["decoder.conv_out.weight"].shape[0]), ch=ch, ch_mult=[w // ch for w in widths],
                    num_res_blocks=int(meta["num_res_blocks"]),
                    attn_resolutions=[resolution >> i for i, a in enumerate(meta["attn_per_level"]) if a],
                    dropout=0.0, norm_groups=int(meta["norm_groups"]), codes=str(meta.get("encoder_codes", "euclidean")))
    n_embed, embed_dim = (int(d) for d in sd["quantize.embedding.weight"].shape)
    return sd, dict(n_embed=n_embed, embed_dim=embed_dim, ddconfig=ddconfig)


def _detect(container: object, path: str) -> int:
    if isinstance(container, dict):
        for layout, key in enumerate(CONTAINER_KEYS):
            inner = container.get(key)
            if isinstance(inner, dict) and MODULES["quantize.embedding"][layout] + ".weight" in inner:
                return layout
    raise ConversionError(f"{path}: not a VQGAN checkpoint: expected taming's {{'state_dict': ...}} with "
                          f"'quantize.embedding.weight' or HFAiLab's {{'model': ...}} with "
                          f"'quantizer.embedding.weight'")


def _recorded_resolution(container: dict, layout: int, attn_per_level: list[int], path: str) -> int:
    if layout == HFAI and any(attn_per_level):
        return HFAI_ATTN_RESOLUTION * 2 ** attn_per_level.index(1)
    hparams = container.get("hyper_parameters")
    ddconfig = hparams.get("ddconfig") if isinstance(hparams, dict) else None
    if isinstance(ddconfig, dict) and isinstance(ddconfig.get("resolution"), int):
        return ddconfig["resolution"]
    raise ConversionError(f"{path}: the image resolution is not recorded in this checkpoint; pass it with "
                          f"--vqgan-resolution (256 for taming's f16 ImageNet models; see model.params.ddconfig "
                          f"in the model's config .yaml)")


def _recorded_ddconfig(container: dict, layout: int) -> dict:
    """A taming-layout checkpoint's Lightning hyper_parameters.ddconfig, or {} where it has none."""
    hparams = container.get("hyper_parameters") if layout == TAMING else None
    ddconfig = hparams.get("ddconfig") if isinstance(hparams, dict) else None
    return ddconfig if isinstance(ddconfig, dict) else {}


def _recorded_norm_groups(container: dict, layout: int, path: str) -> int:
    """GroupNorm groups: ddconfig.norm_groups of a taming-layout checkpoint that records it, else 32."""
    groups = _recorded_ddconfig(container, layout).get("norm_groups", NORM_GROUPS)
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ConversionError(f"{path}: hyper_parameters ddconfig.norm_groups must be a positive integer "
                              f"(got {groups!r})")
    return groups


def _taming_up_modules(weights: Weights) -> dict[str, str]:
    """Canonical up-path module prefix -> checkpoint prefix (the same names in taming's layout)."""
    up = {}
    for key in weights.keys_under("decoder.up."):
        parts = key.split(".")  # decoder, up, I, block|attn|upsample, J?, ...
        if len(parts) < 6 or not parts[2].isdigit():
            continue  # not a module of taming's up path: finish() reports it as unexpected
        prefix = ".".join(parts[:4] if parts[3] == "upsample" else parts[:5])
        up[prefix] = prefix
    return up


def _hfai_up_modules(weights: Weights) -> dict[str, str]:
    """Map HFAiLab's flat ``decoder.up.N`` Sequential onto taming's ``decoder.up.I.{block,attn}.J`` / ``.upsample``.

    HFAiLab's Decoder appends, per level from the lowest resolution up: num_res_blocks+1 ResnetBlocks (each followed by
    an AttnBlock at attention resolutions) and an Upsample except after level 0. A module's kind shows in its keys.
    """
    indices = sorted({int(k.split(".")[2]) for k in weights.keys_under("decoder.up.") if k.split(".")[2].isdigit()})
    levels = 1 + sum(f"decoder.up.{n}.conv.weight" in weights for n in indices)
    up, level, counts = {}, levels - 1, {"block": 0, "attn": 0}
    for n in indices:
        source = f"decoder.up.{n}"
        if f"{source}.conv.weight" in weights:
            up[f"decoder.up.{level}.upsample"] = source
            level, counts = level - 1, {"block": 0, "attn": 0}
            continue
        kind = "attn" if f"{source}.attn.in_proj_weight" in weights else "block"
        up[f"decoder.up.{level}.{kind}.{counts[kind]}"] = source
        counts[kind] += 1
    return up


class _Converter:
    """Walks the decoder in forward order, taking each tensor with the shape the previous ones imply."""

    def __init__(self, weights: Weights, layout: int, up: dict[str, str]):
        self.weights, self.layout, self.up = weights, layout, up
        self.tensors: dict[str, np.ndarray] = {}

    def run(self) -> tuple[dict[str, np.ndarray], dict]:
        codebook = self.weights.take(self._source("quantize.embedding") + ".weight", (None, None))
        self.tensors["quantize.embedding.weight"] = codebook  # [n_embed, embed_dim]
        n_embed, embed_dim = codebook.shape
        z_channels = self._out_channels("post_quant_conv")
        self._conv("post_quant_conv", self._source("post_quant_conv"), embed_dim, z_channels, 1)
        channels = self._out_channels("decoder.conv_in")
        self._conv("decoder.conv_in", self._source("decoder.conv_in"), z_channels, channels, 3)
        self._resnet("decoder.mid.block_1", channels, channels)
        self._attn("decoder.mid.attn_1", channels)
        self._resnet("decoder.mid.block_2", channels, channels)
        levels = 1 + max((int(name.split(".")[2]) for name in self.up), default=-1)
        if levels == 0:
            raise ConversionError(f"{self.weights.path}: missing the decoder's up path ('decoder.up.*' keys)")
        widths, block_counts, attn_per_level = [], set(), []
        for level in reversed(range(levels)):
            n_blocks, n_attn = self._count(f"decoder.up.{level}.block."), self._count(f"decoder.up.{level}.attn.")
            if n_blocks == 0 or n_attn not in (0, n_blocks):
                raise ConversionError(f"{self.weights.path}: decoder level {level} has {n_blocks} resnet blocks and "
                                      f"{n_attn} attention blocks (expected >= 1, and 0 or one attention per block)")
            width = self._out_channels(f"decoder.up.{level}.block.0", RESNET_PARTS["conv1"][self.layout])
            for j in range(n_blocks):
                self._resnet(f"decoder.up.{level}.block.{j}", channels, width)
                channels = width
                if n_attn:
                    self._attn(f"decoder.up.{level}.attn.{j}", width)
            if level:
                source = f"{self._source(f'decoder.up.{level}.upsample')}.{UPSAMPLE_PARTS['conv'][self.layout]}"
                self._conv(f"decoder.up.{level}.upsample.conv", source, width, width, 3)
            widths.insert(0, width)
            block_counts.add(n_blocks)
            attn_per_level.insert(0, int(n_attn > 0))
        if len(block_counts) != 1:
            raise ConversionError(f"{self.weights.path}: decoder levels differ in resnet block count {block_counts}")
        self._norm("decoder.norm_out", self._source("decoder.norm_out"), channels)
        self._conv("decoder.conv_out", self._source("decoder.conv_out"), channels, 3, 3)
        ch = math.gcd(*widths)  # only ch * ch_mult[i] is in the weights; reported with gcd(ch_mult) = 1
        meta = dict(n_embed=n_embed, embed_dim=embed_dim, z_channels=z_channels, ch=ch,
                    ch_mult=[w // ch for w in widths], num_res_blocks=block_counts.pop() - 1,
                    attn_per_level=attn_per_level)
        return self.tensors, meta

    def _source(self, module: str) -> str:
        """The checkpoint prefix of a canonical module."""
        if module in MODULES:
            return MODULES[module][self.layout]
        if module not in self.up:
            raise ConversionError(f"{self.weights.path}: missing the module for '{module}' "
                                  f"({LAYOUT_NAMES[self.layout]} layout)")
        return self.up[module]

    def _out_channels(self, module: str, part: str = "") -> int:
        return self.weights.shape(".".join(filter(None, (self._source(module), part, "weight"))))[0]

    def _count(self, prefix: str) -> int:
        return sum(1 for name in self.up if name.startswith(prefix))

    def _conv(self, name: str, source: str, c_in: int, c_out: int, k: int) -> None:
        weight = self.weights.take(f"{source}.weight", (c_out, c_in, k, k))  # [out, in, kh, kw]
        self.tensors[f"{name}.weight"] = np.ascontiguousarray(weight.transpose(0, 2, 3, 1))  # [out, kh, kw, in]
        self.tensors[f"{name}.bias"] = self.weights.take(f"{source}.bias", (c_out,))  # [out]

    def _norm(self, name: str, source: str, channels: int) -> None:
        self.tensors[f"{name}.weight"] = self.weights.take(f"{source}.weight", (channels,))  # [C]
        self.tensors[f"{name}.bias"] = self.weights.take(f"{source}.bias", (channels,))  # [C]

    def _resnet(self, name: str, c_in: int, c_out: int) -> None:
        source = {part: f"{self._source(name)}.{names[self.layout]}" for part, names in RESNET_PARTS.items()}
        self._norm(f"{name}.norm1", source["norm1"], c_in)
        self._conv(f"{name}.conv1", source["conv1"], c_in, c_out, 3)
        self._norm(f"{name}.norm2", source["norm2"], c_out)
        self._conv(f"{name}.conv2", source["conv2"], c_out, c_out, 3)
        if c_in != c_out:
            self._conv(f"{name}.nin_shortcut", source["nin_shortcut"], c_in, c_out, 1)

    def _attn(self, name: str, c: int) -> None:
        source = {part: f"{self._source(name)}.{names[self.layout]}" for part, names in ATTN_PARTS.items()}
        self._norm(f"{name}.norm", source["norm"], c)
        if self.layout == TAMING:
            for part in ("q", "k", "v", "proj_out"):
                self._conv(f"{name}.{part}", source[part], c, c, 1)
            return
        # nn.MultiheadAttention(c, 1 head): a Linear applied per pixel is a 1x1 conv, so [C, C] -> [C, 1, 1, C].
        in_w = self.weights.take(source["q"] + "_weight", (3 * c, c))  # [3C, C]: rows q, k, v
        in_b = self.weights.take(source["q"] + "_bias", (3 * c,))  # [3C]
        for i, part in enumerate(("q", "k", "v")):
            self.tensors[f"{name}.{part}.weight"] = in_w[i * c:(i + 1) * c].reshape(c, 1, 1, c)  # [C, 1, 1, C]
            self.tensors[f"{name}.{part}.bias"] = in_b[i * c:(i + 1) * c].copy()  # [C]
        out_w = self.weights.take(source["proj_out"] + ".weight", (c, c))  # [C, C]
        self.tensors[f"{name}.proj_out.weight"] = out_w.reshape(c, 1, 1, c)  # [C, 1, 1, C]
        self.tensors[f"{name}.proj_out.bias"] = self.weights.take(source["proj_out"] + ".bias", (c,))  # [C]

"""Stage b: the VQGAN, trained on images only (procedural scenes or --images DIR).

Port of taming-transformers' VQModel training step without its LPIPS term (it needs downloaded VGG weights) or its
discriminator (not tried yet): reconstruction (L1 + L2; optionally foreground-weighted, and an edge term,
edge_loss) plus the VectorQuantizer's codebook and commitment terms (beta 0.25). The model is
clipgen_convert.synth_vqgan.TamingVQModelParts, i.e. taming's own Encoder / Decoder / VectorQuantizer under
VQModel's attribute names, and it is saved in taming's Lightning layout {'state_dict', 'hyper_parameters'} (the
layout synth_vqgan writes), so the converter reads it as it reads a user's taming checkpoint.

Dead codes are the usual failure of a small VQ codebook: codes that no encoder output picks for `restart_every`
steps are re-seeded from encoder outputs of the current global batch (all ranks gathered, seeded by the step, so
the result does not depend on the number of processes). Step 0 re-seeds every code: taming's U(+-1/n) init lies far
from the encoder's outputs.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from clipgen_convert.synth_vqgan import TamingVQModelParts
from clipgen_train.clip_model import is_model_file, save_atomic
from clipgen_train.data import TrainingDataError, image_source, rank_indices

CHECKPOINT = "vqgan.ckpt"
BETA = 0.25  # taming's commitment weight

#: VQModel constructor arguments (taming configs: ddconfig + n_embed / embed_dim), by preset.
PRESETS = {
    # tests: 32x32 images -> 8x8 tokens
    "tiny": dict(n_embed=64, embed_dim=32, ddconfig=dict(
        double_z=False, z_channels=32, resolution=32, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 1, 2],
        num_res_blocks=1, attn_resolutions=[], dropout=0.0)),
    # the bundled model: f8, 64x64 images -> 8x8 tokens, attention at 8x8 like taming's f16 models at 16x16.
    # GroupNorm with 8 groups, not taming's 32: a group of one or two channels loses a plain region's colour (the
    # group's spatial mean is removed), and 32-group models at 32 and 64 channels trained to 10-11 dB PSNR in 200
    # steps with every background the same colour. 8 groups keep 4 channels per group at 32 channels, the ratio of
    # taming's own models at 128. The converter reads ddconfig.norm_groups (taming's classes ignore the key).
    "small": dict(n_embed=512, embed_dim=32, ddconfig=dict(
        double_z=False, z_channels=64, resolution=64, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 1, 2, 4],
        norm_groups=8, codes="cosine",
        num_res_blocks=1, attn_resolutions=[8], dropout=0.0)),
    # f4: 64x64 images -> 16x16 tokens of 4x4 pixels, so that a small shape (12 pixels across) spans 3x3 tokens;
    # on 200 held-out scenes the f8 "small" reconstructions keep colour and position but not shape (docs/TRAINING.md)
    "small-f4": dict(n_embed=1024, embed_dim=32, ddconfig=dict(
        double_z=False, z_channels=64, resolution=64, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 2, 4],
        norm_groups=8, codes="cosine",
        num_res_blocks=1, attn_resolutions=[16], dropout=0.0)),
}
PRESETS["deep-f4"] = PRESETS["small-f4"]  # the presets differ in the transformer only


class TrainableVQGAN(TamingVQModelParts):
    """VQModel's parts with VQModel.forward: same state_dict keys; a forward DDP can wrap.

    ddconfig ``codes: "cosine"`` (the small preset) quantises as ViT-VQGAN does: encoder outputs and codes are
    L2-normalised and the nearest code by cosine is picked; the decoder sees the unit code. taming's Euclidean rule
    let a few codes take every output (31 of 512 in use after 100 steps, no shapes drawn). The export stores the
    unit codes, so decoding (codebook lookup, then the decoder) is taming's; only re-encoding an image needs this
    class's rule, and tokens() applies it.
    """

    def __init__(self, ddconfig: dict, n_embed: int, embed_dim: int):
        super().__init__(ddconfig, n_embed, embed_dim)
        self.cosine = ddconfig.get("codes", "euclidean") == "cosine"

    def quantise(self, z: torch.Tensor):
        """z [N, e, h, w] -> (zq [N, e, h, w] straight-through, codebook + commitment loss, codes [N*h*w])."""
        if not self.cosine:
            zq, qloss, (_, _, codes) = self.quantize(z)  # codes [N*h*w, 1]
            return zq, qloss, codes[:, 0]
        flat = F.normalize(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]), dim=1)  # [N*h*w, e]
        book = F.normalize(self.quantize.embedding.weight, dim=1)  # [n_embed, e]
        codes = (flat @ book.T).argmax(1)  # [N*h*w]
        q = book[codes]  # [N*h*w, e]
        qloss = F.mse_loss(q, flat.detach()) + BETA * F.mse_loss(q.detach(), flat)
        q = flat + (q - flat).detach()
        return q.view(z.shape[0], z.shape[2], z.shape[3], -1).permute(0, 3, 1, 2), qloss, codes

    def forward(self, x: torch.Tensor):
        """x [N, 3, H, W] in [-1, 1] -> (reconstruction [N, 3, H, W], codebook loss, codes [N*h*w], z [N, e, h, w])."""
        z = self.quant_conv(self.encoder(x))  # [N, embed_dim, h, w]
        zq, qloss, codes = self.quantise(z)
        return self.decoder(self.post_quant_conv(zq)), qloss, codes, z

    @torch.no_grad()
    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """images [N, 3, H, W] in [0, 1] -> codes [N, h, w]."""
        z = self.quant_conv(self.encoder(images * 2 - 1))  # [N, embed_dim, h, w]
        _, _, codes = self.quantise(z)  # [N*h*w]
        return codes.view(z.shape[0], z.shape[2], z.shape[3])

    def export_state_dict(self) -> dict:
        """state_dict with unit codes when quantising by cosine (what the decoder saw in training)."""
        state = self.state_dict()
        if self.cosine:
            key = "quantize.embedding.weight"
            state[key] = F.normalize(state[key], dim=1)
        return state


def build(hparams: dict, seed: int) -> TrainableVQGAN:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return TrainableVQGAN(hparams["ddconfig"], hparams["n_embed"], hparams["embed_dim"])


def load(path: str) -> tuple[TrainableVQGAN, dict]:
    """A taming Lightning checkpoint with hyper_parameters (as this stage and `clipgen-convert synth` write it), or
    a model file converted with `--vqgan-encoder keep` (weights dequantised to float32)."""
    if is_model_file(path):
        return _load_model_file(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise TrainingDataError(f"--vqgan {path}: cannot read the checkpoint ({type(e).__name__}: {e})") from None
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hp, dict) or "ddconfig" not in hp or "state_dict" not in ckpt:
        raise TrainingDataError(f"--vqgan {path}: expected a taming Lightning checkpoint with 'state_dict' and "
                                "'hyper_parameters': {'ddconfig', 'n_embed', 'embed_dim'}")
    sd = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith("loss.")}
    n_embed, embed_dim = sd["quantize.embedding.weight"].shape
    hparams = dict(n_embed=int(n_embed), embed_dim=int(embed_dim), ddconfig=dict(hp["ddconfig"]))
    model = TrainableVQGAN(hparams["ddconfig"], hparams["n_embed"], hparams["embed_dim"])
    model.load_state_dict(sd)
    return model.eval(), hparams


def _load_model_file(path: str) -> tuple[TrainableVQGAN, dict]:
    from clipgen_convert.component import ConversionError
    from clipgen_convert.vqgan import taming_state_dict_from_component
    from clipgen_convert.writer import read_component

    try:
        sd, hparams = taming_state_dict_from_component(read_component(path, "vqgan"))
        model = TrainableVQGAN(hparams["ddconfig"], hparams["n_embed"], hparams["embed_dim"])
        model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    except (ConversionError, RuntimeError, ValueError, KeyError) as e:  # RuntimeError: load_state_dict's shapes
        raise TrainingDataError(f"--vqgan {path}: cannot read a whole VQGAN from the model file "
                                f"({str(e).strip().splitlines()[0]})") from None
    return model.eval(), hparams


def foreground_weights(x: torch.Tensor, weight: float) -> torch.Tensor:
    """x [N, 3, S, S] -> per-pixel loss weights [N, 1, S, S]: 1 + weight where a pixel differs from its image's
    border colour (the median of the outermost pixels) by more than 0.1 in some channel.

    A scene's objects cover 2-10% of its pixels, so an unweighted reconstruction loss is met almost entirely by
    drawing the right background: the first small run learned every background in 400 steps and no shape by 800.
    The weight is a function of the image alone (no labels), and harmless on photographs (it favours whatever
    differs from the border).
    """
    border = torch.cat([x[:, :, 0], x[:, :, -1], x[:, :, 1:-1, 0], x[:, :, 1:-1, -1]], dim=2)  # [N, 3, 4S-4]
    background = border.median(dim=2).values[:, :, None, None]  # [N, 3, 1, 1]
    differs = ((x - background).abs().amax(dim=1, keepdim=True) > 0.1).to(x.dtype)  # [N, 1, S, S]
    return 1 + weight * differs


def edge_loss(xrec: torch.Tensor, x: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute difference of the horizontal and vertical pixel differences of xrec and x [N, 3, S, S].

    A decoder that is unsure where an outline lies draws a ramp; L1 / L2 on pixels charge the ramp a little per
    pixel, this term charges it the whole step it spreads out, so corners (a diamond's, a triangle's) stay sharp.
    `weights` [N, 1, S, S] (foreground_weights) weigh each difference by the larger weight of its two pixels and
    the result is divided by their mean, as the weighted reconstruction loss is.
    """
    dx, dy = xrec.diff(dim=3) - x.diff(dim=3), xrec.diff(dim=2) - x.diff(dim=2)  # [N, 3, S, S-1], [N, 3, S-1, S]
    if weights is None:
        return dx.abs().mean() + dy.abs().mean()
    wx = torch.maximum(weights[..., 1:], weights[..., :-1])  # [N, 1, S, S-1]
    wy = torch.maximum(weights[..., 1:, :], weights[..., :-1, :])  # [N, 1, S-1, S]
    return (wx * dx.abs()).mean() / wx.mean() + (wy * dy.abs()).mean() / wy.mean()


class VQGANStage:
    """What loop.run needs to train the VQGAN."""

    name = "vqgan"

    def __init__(self, hparams: dict, seed: int, batch: int, images_dir: str | None, restart_every: int = 50,
                 foreground_weight: float = 0.0, decoder_of: str | None = None, edge_weight: float = 0.0):
        """`decoder_of`: a trained VQGAN checkpoint whose decoder alone trains on (its hyper-parameters replace
        `hparams`); its encoder and codebook stay frozen, so the tokens of every image stay those of the
        checkpoint and a transformer trained on them meanwhile fits the result. `edge_weight`: weight of
        edge_loss in the loss (0: off)."""
        if decoder_of:
            from clipgen_convert.provenance import sha256_file

            start, hparams = load(decoder_of)
            restart_every = 0  # the codebook is frozen
        self.hparams, self.seed, self.batch_size, self.restart_every = hparams, seed, batch, restart_every
        self.foreground_weight = foreground_weight
        self.config = {**hparams, "images": images_dir, "restart_every": restart_every}
        if foreground_weight:
            self.config["foreground_weight"] = foreground_weight
        self.edge_weight = edge_weight
        if edge_weight:  # recorded only when set, so states written before the option still resume
            self.config["edge_weight"] = edge_weight
        self.model = build(hparams, seed)
        if decoder_of:
            self.config["decoder_of_sha256"] = sha256_file(decoder_of)
            self.model.load_state_dict(start.state_dict())
            for part in (self.model.encoder, self.model.quant_conv, self.model.quantize):
                part.requires_grad_(False)
        self.images = image_source(images_dir, seed, hparams["ddconfig"]["resolution"])
        self.usage = torch.zeros(hparams["n_embed"], dtype=torch.long)  # picks per code since the last restart
        self._z: torch.Tensor | None = None

    def parameters(self):
        return self.model.parameters()

    def batch(self, step: int, d) -> dict:
        images = self.images.batch(rank_indices(step, self.batch_size, d.rank, d.world))["image"]
        return {"image": images.to(d.device)}  # [N, 3, S, S] in [0, 1]

    def losses(self, model, batch: dict, step: int) -> dict:
        x = batch["image"] * 2 - 1  # [N, 3, S, S] in [-1, 1]
        xrec, qloss, codes, z = model(x)
        self._z = z.detach()
        self.usage += torch.bincount(codes.detach().cpu(), minlength=self.usage.numel())
        l1, l2 = F.l1_loss(xrec, x), F.mse_loss(xrec, x)
        out = {"l1": l1, "l2": l2, "codebook": qloss}
        w = foreground_weights(x, self.foreground_weight) if self.foreground_weight else None  # [N, 1, S, S]
        if w is not None:
            err = xrec - x
            rec = ((w * err.abs()).mean() + (w * err.square()).mean()) / w.mean()
        else:
            rec = l1 + l2
        if self.edge_weight:
            out["edge"] = edge_loss(xrec, x, w)
            rec = rec + self.edge_weight * out["edge"]
        return {"loss": rec + qloss, **out}

    @torch.no_grad()
    def after_step(self, step: int, d) -> None:
        if self.restart_every <= 0 or (step % self.restart_every and step != 0):
            return
        z = self._z.permute(0, 2, 3, 1).reshape(-1, self._z.shape[1])  # [n*h*w, embed_dim] this rank's outputs
        usage = self.usage.to(d.device)
        if d.world > 1:
            parts = [torch.empty_like(z) for _ in range(d.world)]
            dist.all_gather(parts, z)
            z = torch.cat(parts)  # [world*n*h*w, embed_dim] in rank order: the single-process batch
            dist.all_reduce(usage)
        dead = (usage == 0).nonzero()[:, 0] if step else torch.arange(usage.numel(), device=z.device)
        if len(dead):
            gen = torch.Generator().manual_seed(self.seed * 100_003 + step)
            pick = torch.randint(len(z), (len(dead),), generator=gen).to(z.device)  # [dead]
            noise = 0.01 * torch.randn(len(dead), z.shape[1], generator=gen).to(z.device)  # [dead, embed_dim]
            self.model.quantize.embedding.weight[dead] = z[pick] + noise * z.std()
        self.usage.zero_()

    def state(self) -> dict:
        return {"usage": self.usage.clone()}

    def load_state(self, state: dict) -> None:
        self.usage = state["usage"].cpu().clone()

    def export(self, out_dir: str) -> str:
        """OUT/vqgan.ckpt in taming's Lightning layout (as synth_vqgan.write), encoder included."""
        path = f"{out_dir}/{CHECKPOINT}"
        save_atomic({"state_dict": self.model.export_state_dict(), "hyper_parameters": self.hparams}, path)
        return path

"""Stage c: the CLIP-GEN transformer, trained language-free on (CLIP image embedding, VQGAN tokens) pairs.

Each batch is drawn from an image-only source and encoded by the frozen CLIP image tower and the frozen VQGAN
encoder (data.EmbeddingTokenPairs): no caption exists anywhere on this path, and this module does not import the
caption grammar (a test checks both). The model is clipgen_convert.gpt_model.ClipGenGPT, saved in HFAiLab's layout.

Losses (CLIP-GEN, arXiv 2203.00386):
- token cross-entropy of p(tokens | c), teacher-forced over the raster-ordered grid;
- optionally (`consistency_weight` > 0) the embedding-consistency loss: the predicted tokens are decoded by the
  frozen VQGAN through a straight-through softmax (forward: one_hot(argmax); backward: the softmax), re-embedded by
  the frozen CLIP image tower, and pulled towards c by 1 - cosine.
The condition may be perturbed (`cond_noise` = sigma > 0): c' = normalise(c + sigma * e), e ~ N(0, I / E), so the
noise has norm about sigma against the unit embedding. At inference the condition is a *text* embedding, which
sits apart from image embeddings in CLIP's space; training on a neighbourhood of each image embedding is a cheap
way to make the transformer tolerate that gap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from clipgen_convert.gpt_model import ClipGenGPT
from clipgen_train import clip_model, train_vqgan
from clipgen_train.clip_model import save_atomic
from clipgen_train.data import CachedPairs, EmbeddingTokenPairs, TrainingDataError, image_source, rank_indices

CHECKPOINT = "gpt.pt"

#: ClipGenGPT sizes by preset (vocab, grid and cond_dim come from the VQGAN and the CLIP).
PRESETS = {
    "tiny": dict(layers=1, d_model=64, heads=1, dropout=0.0),
    # head width 64 like HFAiLab's presets; 4 layers rather than 6: on a 2-core CPU the budget is ~1e14 FLOPs, for
    # which a ~3M-parameter model learns more per second than a 5M one
    "small": dict(layers=4, d_model=256, heads=4, dropout=0.0),  # no dropout: a short run underfits
}
PRESETS["small-f4"] = PRESETS["small"]  # the presets differ in the VQGAN only
# the f4 transformer limits shape and two-object scenes (docs/TRAINING.md): the same width, half as deep again
PRESETS["deep-f4"] = dict(layers=6, d_model=256, heads=4, dropout=0.0)



def build(config: dict, vocab_size: int, grid: list[int], cond_dim: int, seed: int) -> ClipGenGPT:
    """A seeded ClipGenGPT with GPT-2's initialisation (N(0, 0.02) weights, zero biases)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ClipGenGPT(vocab_size, config["layers"], config["d_model"], config["heads"], grid, cond_dim,
                           config["dropout"])
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        for block in model.blocks:  # nn.MultiheadAttention keeps its qkv as bare parameters
            nn.init.normal_(block.encoder.self_attn.in_proj_weight, std=0.02)
            nn.init.zeros_(block.encoder.self_attn.in_proj_bias)
        nn.init.normal_(model.pos_emb, std=0.02)
    return model


def perturb(cond: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """cond [N, E] unit rows -> normalise(cond + sigma * N(0, I / E)) [N, E]."""
    noise = torch.randn(cond.shape, generator=generator).to(cond.device) / cond.shape[1] ** 0.5  # [N, E]
    return F.normalize(cond + sigma * noise, dim=-1)


def drop(cond: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """cond [N, E] -> the same with each row replaced by zeros (the unconditioned input) with probability p."""
    keep = torch.rand(len(cond), generator=generator) >= p  # [N]
    return cond * keep[:, None].to(cond)


def _init_weights(path: str, model: ClipGenGPT) -> dict:
    """The state dict of checkpoint `path` (a gpt.pt, or a model file's transformer, dequantised), checked against
    `model`'s tensor names and shapes."""
    from clipgen_convert.checkpoint import read_torch
    from clipgen_convert.component import ConversionError

    if clip_model.is_model_file(path):
        state = _state_dict_of_model_file(path, model)
    else:
        try:
            ckpt = read_torch(path)  # weights only: nothing in the file runs
        except ConversionError as e:
            raise TrainingDataError(f"--init {e}") from None
        state = ckpt.get("model") if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise TrainingDataError(f"--init {path}: not a transformer checkpoint (expected a dict with 'model')")
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    for name, shape in want.items():
        if have.get(name) != shape:
            raise TrainingDataError(f"--init {path}: tensor {name} is {have.get(name, 'missing')}, expected {shape} "
                                    "(the checkpoint has other sizes, preset, VQGAN or CLIP)")
    return state


def _state_dict_of_model_file(path: str, model: ClipGenGPT) -> dict:
    """The transformer of a clipgen model file, dequantised to float32, in gpt.pt's layout; the causal masks, which
    a model file does not hold, are `model`'s own."""
    from clipgen_convert.gpt import hfai_state_dict_from_component
    from clipgen_convert.writer import read_component

    try:
        sd = hfai_state_dict_from_component(read_component(path, "gpt"))
    except Exception as e:  # noqa: BLE001 - a file without a usable transformer is the same user error
        raise TrainingDataError(f"--init {path}: cannot read a transformer from the model file ({e})") from None
    state = {k: torch.from_numpy(v) for k, v in sd.items()}
    state.update({k: v for k, v in model.state_dict().items() if k.endswith(".mask")})
    return state


class GPTStage:
    """What loop.run needs to train the transformer; the CLIP and the VQGAN stay frozen."""

    name = "gpt"

    def __init__(self, config: dict, clip_path: str, vqgan_path: str, seed: int, batch: int, d, *,
                 clip_activation: str | None = None, images_dir: str | None = None, cond_noise: float = 0.0,
                 consistency_weight: float = 0.0, cache: int = 0, out: str | None = None, init: str | None = None,
                 cond_drop: float = 0.0):
        """`init`: start from this transformer (a gpt.pt, or a model file's, of the same sizes) instead of random weights,
        e.g. to go on training a finished run under a new schedule. Only sizes are checked: the CLIP and VQGAN it was
        trained with are not recorded in gpt.pt, so moving it onto another CLIP of the same width is allowed.
        `cond_drop` P: each sample's condition is replaced by the zero vector with probability P, so the model also
        learns p(tokens) unconditioned, which classifier-free guidance at sampling time contrasts with p(tokens | c)."""
        if not 0.0 <= cond_drop < 1.0:
            raise TrainingDataError(f"--cond-drop {cond_drop}: expected a probability in [0, 1)")
        from clipgen_convert.provenance import sha256_file

        clip, _ = clip_model.load(clip_path, clip_activation)
        vq, hparams = train_vqgan.load(vqgan_path)
        self.clip, self.vq = (m.to(d.device).eval().requires_grad_(False) for m in (clip, vq))
        dd = hparams["ddconfig"]
        grid = [dd["resolution"] // 2 ** (len(dd["ch_mult"]) - 1)] * 2
        cond_dim = int(clip.text_projection.shape[1])
        self.config = {**config, "clip_sha256": sha256_file(clip_path), "vqgan_sha256": sha256_file(vqgan_path),
                       "images": images_dir, "cond_noise": cond_noise, "consistency_weight": consistency_weight,
                       "cache": cache}
        self.model = build(config, hparams["n_embed"], grid, cond_dim, seed)
        if init is not None:
            self.model.load_state_dict(_init_weights(init, self.model))
            self.config["init_sha256"] = sha256_file(init)  # only where set, so earlier runs' states still resume
        if cond_drop > 0:
            self.config["cond_drop"] = cond_drop
        self.seed, self.batch_size, self.rank = seed, batch, d.rank
        self.cond_noise, self.consistency_weight, self.cond_drop = cond_noise, consistency_weight, cond_drop
        self.clip_size = clip_model.image_size(clip)
        self.pairs = EmbeddingTokenPairs(image_source(images_dir, seed, dd["resolution"]), self.embed, self.vq.tokens)
        if cache > 0:
            key = {k: self.config[k] for k in ("clip_sha256", "vqgan_sha256", "images", "cache")}
            self.pairs = CachedPairs(self.pairs, cache, seed, out, {**key, "seed": seed}, d)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """images [N, 3, S, S] in [0, 1] -> CLIP image embeddings [N, E] (not normalised)."""
        return self.clip.encode_image(clip_model.pixels(images, self.clip_size))

    def parameters(self):
        return self.model.parameters()

    def batch(self, step: int, d) -> dict:
        return self.pairs.batch(rank_indices(step, self.batch_size, d.rank, d.world), d.device)

    def losses(self, model, batch: dict, step: int) -> dict:
        cond, tokens = batch["cond"], batch["tokens"]  # [N, E] unit rows, [N, L] with L = h * w
        # one generator per (step, rank) for both perturbations: the noise is drawn first, as before drop existed
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + step) * 4099 + self.rank)
        if self.cond_noise > 0:
            cond = perturb(cond, self.cond_noise, gen)
        if self.cond_drop > 0:
            cond = drop(cond, self.cond_drop, gen)
        logits = model(tokens[:, :-1], cond)  # [N, L, vocab]: row i predicts token i
        ce = F.cross_entropy(logits.flatten(0, 1), tokens.flatten())
        out = {"ce": ce, "token_top1": (logits.argmax(-1) == tokens).float().mean()}
        loss = ce
        if self.consistency_weight > 0:
            out["consistency"] = self.consistency(logits, batch["cond"])
            loss = loss + self.consistency_weight * out["consistency"]
        return {"loss": loss, **out}

    def consistency(self, logits: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """1 - cos(CLIP image embedding of the decoded prediction, cond), through a straight-through softmax."""
        soft = logits.softmax(-1)  # [N, L, vocab]
        hard = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)  # [N, L, vocab]
        st = soft + (hard - soft).detach()  # [N, L, vocab]: forward one-hot, backward softmax
        z = st @ self.vq.quantize.embedding.weight  # [N, L, embed_dim]
        h, w = self.model.grid
        z = z.view(len(z), h, w, -1).permute(0, 3, 1, 2)  # [N, embed_dim, h, w]
        images = (self.vq.decoder(self.vq.post_quant_conv(z)).clamp(-1, 1) + 1) / 2  # [N, 3, S, S] in [0, 1]
        e = F.normalize(self.embed(images), dim=-1)  # [N, E]
        return (1 - (e * cond).sum(-1)).mean()

    def after_step(self, step: int, d) -> None:
        pass

    def state(self) -> dict:
        return {}

    def load_state(self, state: dict) -> None:
        pass

    def export(self, out_dir: str) -> str:
        """OUT/gpt.pt in HFAiLab's layout plus ClipGenGPT's config."""
        path = f"{out_dir}/{CHECKPOINT}"
        save_atomic(self.model.checkpoint(), path)
        return path

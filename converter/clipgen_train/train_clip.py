"""Stage a: the CLIP prior, a small open_clip model trained contrastively on (procedural image, caption) pairs.

No pretrained CLIP can be downloaded here, so the recipe trains one; with real weights the stage is skipped
(`clipgen-train all --clip CKPT`). The model is open_clip's CLIP class with text and image towers, the loss is
open_clip's ClipLoss (features gathered across ranks with gradients, as open_clip's own training does), and the
learnable temperature is clamped to 100 after each step as open_clip does. The export is OpenAI's state-dict
layout (clip_model.export_state_dict), which the converter detects from its key names, image tower included.
"""

from __future__ import annotations

import math

import torch

from clipgen_train import clip_model
from clipgen_train.captions import CaptionedScenes
from clipgen_train.clip_model import save_atomic
from clipgen_train.data import TrainingDataError, rank_indices

CHECKPOINT = "clip.pt"
MAX_LOGIT_SCALE = math.log(100.0)


class CLIPStage:
    """What loop.run needs to train the CLIP."""

    name = "clip"

    def __init__(self, config: dict, quick_gelu: bool, seed: int, batch: int, image_size: int, d, *,
                 init: str | None = None, hard_negatives: float = 0.0, text_only: bool = False):
        """`init`: start from this CLIP (checkpoint or model file; its own sizes replace `config`'s) instead of
        random weights; `hard_negatives`: the fraction of each batch made of (scene, layout twin) pairs
        (CaptionedScenes); `text_only`: train the text tower only (needs `init`): the image tower, and with it
        the image embeddings a transformer was trained on, stays exactly as `init` has it."""
        from clipgen_convert.provenance import sha256_file

        open_clip = clip_model.import_open_clip()
        if init is not None:
            self.model, quick_gelu = clip_model.load(init, None if quick_gelu else "gelu")
            self.model.train()
            config = clip_model.config_of(self.model)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.model = clip_model.build(config, quick_gelu)
        if text_only:
            if init is None:
                raise TrainingDataError("--text-only needs --init: the CLIP whose image tower stays as it is")
            self.model.visual.requires_grad_(False)  # the loop's optimiser takes only parameters needing grad
        self.config = {**config, "quick_gelu": quick_gelu, "data_image_size": image_size}
        if init is not None or hard_negatives:  # keys only where set, so earlier runs' states still resume
            self.config.update(init_sha256=init and sha256_file(init), hard_negatives=hard_negatives)
        if text_only:
            self.config["text_only"] = True
        self.quick_gelu, self.batch_size = quick_gelu, batch
        self.scenes = CaptionedScenes(seed, image_size, hard_negatives)
        self.size = clip_model.image_size(self.model)
        self.tokenize = clip_model.tokenizer(config["text_cfg"]["context_length"])
        self.criterion = open_clip.loss.ClipLoss(gather_with_grad=d.world > 1, rank=d.rank, world_size=d.world)

    def parameters(self):
        return self.model.parameters()

    def batch(self, step: int, d) -> dict:
        b = self.scenes.batch(rank_indices(step, self.batch_size, d.rank, d.world))
        pixels = clip_model.pixels(b["image"], self.size)  # [N, 3, size, size]
        return {"image": pixels.to(d.device), "text": self.tokenize(b["caption"]).to(d.device)}  # text [N, context]

    def losses(self, model, batch: dict, step: int) -> dict:
        image, text, scale = model(batch["image"], batch["text"])  # [N, E], [N, E] L2-normalised; scalar
        loss = self.criterion(image, text, scale)
        with torch.no_grad():
            hits = (image @ text.T).argmax(dim=1) == torch.arange(len(image), device=image.device)  # [N]
        return {"loss": loss, "image_to_text_top1": hits.float().mean(), "logit_scale": scale.detach()}

    @torch.no_grad()
    def after_step(self, step: int, d) -> None:
        self.model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)

    def state(self) -> dict:
        return {}

    def load_state(self, state: dict) -> None:
        pass

    def export(self, out_dir: str) -> str:
        """OUT/clip.pt: OpenAI's layout for QuickGELU models, a plain open_clip state dict for GELU ones."""
        path = f"{out_dir}/{CHECKPOINT}"
        save_atomic(clip_model.export_state_dict(self.model, self.quick_gelu), path)
        return path

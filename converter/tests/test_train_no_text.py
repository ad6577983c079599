"""Language-free: the transformer stage's data path carries no text. Its batches hold exactly a CLIP image embedding
and a token grid, its modules never import the caption grammar, and it trains with the grammar made unusable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the training recipe needs PyTorch")

from clipgen_convert.cli import main as convert_main  # noqa: E402
from clipgen_train.loop import Dist  # noqa: E402
from train_fixtures import env, losses, train  # noqa: E402

TEXT_WORDS = ("text", "caption", "prompt", "token_ids")


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    assert convert_main(["synth", "--preset", "tiny", "--out", str(out)]) == 0
    return out


def test_the_transformer_stage_never_imports_the_caption_grammar():
    code = ("import sys, clipgen_train.train_gpt, clipgen_train.data, clipgen_train.loop;"
            "bad = sorted(m for m in sys.modules if m.startswith('clipgen_train.') and "
            "m.split('.')[1] in ('captions', 'train_clip'));"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_transformer_batches_hold_an_image_embedding_and_tokens_only(synth):
    from clipgen_train.train_gpt import GPTStage

    stage = GPTStage(dict(layers=1, d_model=64, heads=1, dropout=0.0), str(synth / "clip.pt"),
                     str(synth / "vqgan.ckpt"), seed=0, batch=3, d=Dist())
    batch = stage.batch(0, Dist())
    assert set(batch) == set(stage.pairs.KEYS) == {"cond", "tokens"}
    assert not any(word in key for key in batch for word in TEXT_WORDS)
    assert all(isinstance(v, torch.Tensor) for v in batch.values())
    cond, tokens = batch["cond"], batch["tokens"]
    assert cond.shape == (3, 64) and cond.dtype == torch.float32
    assert torch.allclose(cond.norm(dim=-1), torch.ones(3), atol=1e-5)  # L2-normalised CLIP image embeddings
    assert tokens.shape == (3, 64) and tokens.dtype == torch.long and 0 <= int(tokens.min()) < 512
    # The condition is the CLIP *image* embedding of the stage's own images.
    images = stage.pairs.images.batch([0, 1, 2])["image"]
    assert torch.allclose(cond, torch.nn.functional.normalize(stage.embed(images), dim=-1), atol=1e-6)


def test_the_transformer_trains_with_the_caption_grammar_disabled(synth, tmp_path, monkeypatch):
    import clipgen_train.captions as captions

    def forbidden(*args, **kwargs):
        raise AssertionError("the transformer stage touched a caption")

    for name in ("caption", "noun_phrase", "article"):
        monkeypatch.setattr(captions, name, forbidden)
    monkeypatch.setattr(captions.CaptionedScenes, "item", forbidden)
    monkeypatch.setattr(captions.CaptionedScenes, "batch", forbidden)
    out = tmp_path / "gpt"
    assert train("gpt", "--out", out, "--steps", 2, "--batch", 2, "--clip", synth / "clip.pt",
                 "--vqgan", synth / "vqgan.ckpt") == 0
    assert [r["step"] for r in losses(out)] == [1, 2]

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


def test_cached_pairs_are_the_encoded_pairs_and_hold_no_text(synth, tmp_path):
    from clipgen_train.train_gpt import GPTStage

    config = dict(layers=1, d_model=64, heads=1, dropout=0.0)
    args = (config, str(synth / "clip.pt"), str(synth / "vqgan.ckpt"))
    stage = GPTStage(*args, seed=0, batch=4, d=Dist(), cache=6, out=str(tmp_path))
    assert set(torch.load(tmp_path / "pairs.pt")) == {"key", "cond", "tokens"}
    fresh = GPTStage(*args, seed=0, batch=6, d=Dist()).pairs.batch(list(range(6)), torch.device("cpu"))
    seen = [stage.batch(step, Dist()) for step in range(3)]  # 12 samples: two epochs of the 6 cached pairs
    assert all(set(b) == {"cond", "tokens"} for b in seen)
    tokens = torch.cat([b["tokens"] for b in seen])  # [12, 64]
    for half in (tokens[:6], tokens[6:]):  # each epoch is a permutation of the encoded pairs
        assert sorted(map(tuple, half.tolist())) == sorted(map(tuple, fresh["tokens"].tolist()))
    assert not torch.equal(tokens[:6], tokens[6:]) or len(set(map(tuple, tokens.tolist()))) == 1
    cond = torch.cat([b["cond"] for b in seen])
    picks = [next(j for j in range(6) if torch.equal(fresh["tokens"][j], t)) for t in tokens]
    assert torch.allclose(cond, fresh["cond"][picks], atol=1e-6)  # each cond travels with its own tokens
    # A run with other transformer settings but the same encoders, size and seed reads the file, encoding nothing;
    # another size encodes again.
    from clipgen_train.data import EmbeddingTokenPairs

    def no_encoding(*a, **k):
        raise AssertionError("encoded again although pairs.pt has the same key")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(EmbeddingTokenPairs, "batch", no_encoding)
        again = GPTStage(*args, seed=0, batch=4, d=Dist(), cache=6, out=str(tmp_path), cond_noise=0.3)
    assert torch.equal(again.pairs.cond, stage.pairs.cond) and torch.equal(again.pairs.tokens, stage.pairs.tokens)
    other = GPTStage(*args, seed=0, batch=4, d=Dist(), cache=5, out=str(tmp_path))
    assert len(other.pairs.tokens) == 5

"""The trainer's cosine-quantised VQGAN (the small preset): its tokens, its export and the converter agree."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the training recipe needs PyTorch")

import torch.nn.functional as F  # noqa: E402

from clipgen_convert import vqgan, vqgan_ref  # noqa: E402
from clipgen_train import train_vqgan  # noqa: E402
from clipgen_train.data import SceneImages  # noqa: E402


def test_cosine_codes_export_unit_codes_that_decode_as_in_training(tmp_path):
    tiny = train_vqgan.PRESETS["tiny"]
    hparams = {**tiny, "ddconfig": {**tiny["ddconfig"], "codes": "cosine", "norm_groups": 8}}
    model = train_vqgan.build(hparams, seed=0).eval()
    with torch.no_grad():
        model.quantize.embedding.weight.normal_()  # codes of several lengths: normalisation must matter
        model.quantize.embedding.weight.mul_(torch.rand(hparams["n_embed"], 1) * 3 + 0.1)
    images = SceneImages(0, 32).batch(list(range(4)))["image"]  # [4, 3, 32, 32]
    tokens = model.tokens(images)  # [4, h, w]
    state = model.export_state_dict()
    book = state["quantize.embedding.weight"]  # [n_embed, e]
    assert torch.allclose(book.norm(dim=1), torch.ones(len(book)), atol=1e-5)
    # The rule: nearest unit code to the unit encoder output (not taming's nearest raw code to the raw output).
    with torch.no_grad():
        z = model.quant_conv(model.encoder(images * 2 - 1))  # [4, e, h, w]
    flat = F.normalize(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]), dim=1)
    assert torch.equal(torch.cdist(flat, book).argmin(1), tokens.flatten())
    raw = torch.cdist(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]), model.quantize.embedding.weight).argmin(1)
    assert not torch.equal(raw, tokens.flatten())
    # Saved, reloaded and converted: same tokens, and the converter decodes what the decoder saw in training.
    stage = train_vqgan.VQGANStage(hparams, seed=0, batch=2, images_dir=None)
    stage.model = model
    path = stage.export(str(tmp_path))
    again, _ = train_vqgan.load(path)
    assert torch.equal(again.tokens(images), tokens)
    component = vqgan.load(path)
    assert component.meta["norm_groups"] == 8
    with torch.no_grad():
        seen = model.decoder(model.post_quant_conv(book[tokens[0]].permute(2, 0, 1)[None]))[0]  # [3, H, W]
    assert torch.allclose(vqgan_ref.VQGANDecoder(component).decode(tokens[0]), seen, atol=1e-4)


def test_foreground_weights_mark_what_differs_from_the_border():
    x = torch.full((2, 3, 16, 16), -1.0)  # two black images
    x[0, 0, 4:8, 5:9] = 0.8  # a red-ish square in the first
    w = train_vqgan.foreground_weights(x, 10.0)  # [2, 1, 16, 16]
    assert w.shape == (2, 1, 16, 16)
    expected = torch.ones(2, 1, 16, 16)
    expected[0, 0, 4:8, 5:9] = 11.0
    assert torch.equal(w, expected)
    # A faint difference (antialiasing noise, < 0.1) is not foreground.
    faint = x.clone()
    faint[1, :, 2:6, 2:6] += 0.05
    assert torch.equal(train_vqgan.foreground_weights(faint, 10.0), expected)


def test_decoder_of_trains_the_decoder_and_keeps_every_token(tmp_path):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from train_fixtures import train

    assert train("vqgan", "--out", tmp_path / "a", "--steps", 3, "--batch", 2) == 0
    first = tmp_path / "a" / train_vqgan.CHECKPOINT
    assert train("vqgan", "--out", tmp_path / "b", "--steps", 3, "--batch", 2, "--foreground-weight", 5,
                 "--edge-weight", 2, "--decoder-of", first) == 0
    logged = [json.loads(line) for line in (tmp_path / "b" / "losses.jsonl").read_text().splitlines()]
    assert len(logged) == 3 and all(row["edge"] > 0 for row in logged)
    before, _ = train_vqgan.load(str(first))
    after, _ = train_vqgan.load(str(tmp_path / "b" / train_vqgan.CHECKPOINT))
    old, new = before.state_dict(), after.state_dict()
    frozen = [k for k in old if k.split(".")[0] in ("encoder", "quant_conv", "quantize")]
    assert frozen and all(torch.equal(old[k], new[k]) for k in frozen)
    trained = [k for k in old if k.split(".")[0] in ("decoder", "post_quant_conv")]
    assert any(not torch.equal(old[k], new[k]) for k in trained)
    images = SceneImages(5, 32).batch(list(range(4)))["image"]
    assert torch.equal(before.tokens(images), after.tokens(images))


def test_edge_loss_charges_a_blurred_outline_not_a_colour_offset():
    x = torch.full((1, 3, 16, 16), -1.0)
    x[0, :, 4:12, 4:12] = 1.0  # a white square on black
    assert train_vqgan.edge_loss(x, x) == 0
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)  # [1, 3, 16, 16]
    offset = x + F.l1_loss(blurred, x)  # every pixel off by the blur's mean error: the same pixel L1
    assert torch.isclose(F.l1_loss(offset, x), F.l1_loss(blurred, x))
    assert train_vqgan.edge_loss(offset, x) < 1e-6
    assert train_vqgan.edge_loss(blurred, x) > 0.1
    # Weights favour the differences next to foreground pixels: an error in a far corner counts less.
    w = train_vqgan.foreground_weights(x, 10.0)  # [1, 1, 16, 16]
    speck = x.clone()
    speck[0, :, 1, 1] = 0.0  # near a corner of the image, far from the square
    near = x.clone()
    near[0, :, 3, 6] = 0.0  # just outside the square's top edge
    assert train_vqgan.edge_loss(speck, x, w) < train_vqgan.edge_loss(near, x, w)
    assert torch.isclose(train_vqgan.edge_loss(speck, x), train_vqgan.edge_loss(near, x))

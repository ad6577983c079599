"""Every stage writes a checkpoint the converter reads as a user's file (layout detected from key names, image tower
included), `clipgen-train all` ends in one model file that verifies, and user errors are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the training recipe needs PyTorch")

from clipgen_convert.checks import check_compatible  # noqa: E402
from clipgen_convert.cli import main as convert_main  # noqa: E402
from clipgen_convert.clip import OPENAI_MARKERS  # noqa: E402
from clipgen_convert.component import ConversionError  # noqa: E402
from clipgen_convert.loading import load_component  # noqa: E402
from train_fixtures import losses, train  # noqa: E402


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("recipe")
    assert train("all", "--out", out, "--steps", 3, "--batch", 4, "--cond-noise", 0.2,
                 "--consistency-weight", 0.5) == 0
    return out


def test_all_writes_each_stage_in_its_native_layout(recipe):
    clip = torch.load(recipe / "clip" / "clip.pt", weights_only=True)
    assert all(k in clip for k in OPENAI_MARKERS) and "visual.proj" in clip  # OpenAI state dict, image tower
    vqgan = torch.load(recipe / "vqgan" / "vqgan.ckpt", weights_only=False)
    assert set(vqgan) == {"state_dict", "hyper_parameters"}
    assert vqgan["hyper_parameters"]["ddconfig"]["resolution"] == 32
    assert "encoder.conv_in.weight" in vqgan["state_dict"] and "quantize.embedding.weight" in vqgan["state_dict"]
    gpt = torch.load(recipe / "gpt" / "gpt.pt", weights_only=False)
    assert "tok_emb.weight" in gpt["model"] and gpt["config"]["grid"] == [8, 8]
    for stage, keys in (("clip", {"loss", "image_to_text_top1", "logit_scale"}),
                        ("vqgan", {"loss", "l1", "l2", "codebook"}),
                        ("gpt", {"loss", "ce", "token_top1", "consistency"})):
        rows = losses(recipe / stage)
        assert [r["step"] for r in rows] == [1, 2, 3]
        assert set(rows[0]) == keys | {"step", "lr"}


def test_the_converter_loaders_accept_every_stage(recipe):
    clip = load_component("clip", str(recipe / "clip" / "clip.pt"))
    assert clip.meta["layout"] == "openai" and clip.meta["has_vision"] is True
    assert clip.meta["text.activation"] == "quick_gelu" and clip.meta["vision.image_size"] == 32
    vqgan = load_component("vqgan", str(recipe / "vqgan" / "vqgan.ckpt"))
    gpt = load_component("gpt", str(recipe / "gpt" / "gpt.pt"))
    assert vqgan.meta["grid"] == gpt.meta["grid"] == [8, 8]
    assert gpt.meta["vocab_size"] == vqgan.meta["n_embed"] == 64
    assert gpt.meta["cond_dim"] == clip.meta["embed_dim"] == 64
    check_compatible({"clip": clip, "vqgan": vqgan, "gpt": gpt})


def test_the_model_file_verifies_against_the_trained_checkpoints(recipe, capsys):
    model = recipe / "model.gguf"
    assert model.is_file()
    code = convert_main(["verify", str(model), "--from", str(recipe / "clip" / "clip.pt"),
                         str(recipe / "vqgan" / "vqgan.ckpt"), str(recipe / "gpt" / "gpt.pt")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "image_cosine" in out  # the image tower made it into the file


def test_a_gelu_clip_is_written_as_open_clip_and_converts_with_the_activation(tmp_path):
    out = tmp_path / "clip"
    assert train("clip", "--out", out, "--steps", 1, "--batch", 2, "--gelu") == 0
    sd = torch.load(out / "clip.pt", weights_only=True)
    assert not any(k in sd for k in OPENAI_MARKERS)
    with pytest.raises(ConversionError, match="--clip-activation"):
        load_component("clip", str(out / "clip.pt"))
    clip = load_component("clip", str(out / "clip.pt"), {"activation": "gelu"})
    assert clip.meta["layout"] == "open_clip" and clip.meta["text.activation"] == "gelu"


def test_gpt_trains_on_a_real_openai_layout_clip(tmp_path, recipe):
    """`--clip CKPT`: an OpenAI state dict made by open_clip (clipgen-convert synth) instead of the trained CLIP."""
    assert convert_main(["synth", "--preset", "tiny", "--out", str(tmp_path / "synth")]) == 0
    out = tmp_path / "gpt"
    assert train("gpt", "--out", out, "--steps", 2, "--batch", 2, "--clip", tmp_path / "synth" / "clip.pt",
                 "--vqgan", recipe / "vqgan" / "vqgan.ckpt") == 0
    assert load_component("gpt", str(out / "gpt.pt")).meta["cond_dim"] == 64


def test_vqgan_reconstruction_improves(tmp_path):
    out = tmp_path / "vqgan"
    assert train("vqgan", "--out", out, "--steps", 20, "--batch", 8, "--lr", "1e-3", "--warmup", 2) == 0
    rows = losses(out)
    first, last = (sum(r["l1"] for r in part) / len(part) for part in (rows[:4], rows[-4:]))
    assert last < 0.9 * first, (first, last)  # measured: 0.759 -> 0.655


def test_user_errors_are_one_line(tmp_path, capsys):
    assert train("gpt", "--out", tmp_path / "g", "--vqgan", tmp_path / "v.ckpt") == 2
    assert capsys.readouterr().err.strip() == "clipgen-train: error: the gpt stage needs --clip CKPT"
    assert train("gpt", "--out", tmp_path / "g", "--clip", tmp_path / "missing.pt", "--vqgan", "x") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("clipgen-train: error: --clip") and "missing.pt" in err and "\n" not in err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert train("gpt", "--out", tmp_path / "g", "--clip", bad, "--vqgan", bad) == 2
    assert "cannot read the checkpoint" in capsys.readouterr().err
    assert train("vqgan", "--out", tmp_path / "v", "--steps", 1, "--batch", 1, "--images", tmp_path / "nope") == 2
    assert "--images" in capsys.readouterr().err


def test_a_model_files_clip_reads_back_as_the_checkpoint_it_was_converted_from(tmp_path, recipe):
    """clip_model.load on a model file: its CLIP as an OpenAI state dict, the f32 conversion bit for bit."""
    from clipgen_train import clip_model

    model = tmp_path / "model.f32.gguf"
    assert convert_main(["convert", "--clip", str(recipe / "clip" / "clip.pt"), "--vqgan",
                         str(recipe / "vqgan" / "vqgan.ckpt"), "--transformer", str(recipe / "gpt" / "gpt.pt"),
                         "--out", str(model), "--quant", "f32", "--quiet"]) == 0
    original = torch.load(recipe / "clip" / "clip.pt", weights_only=True)
    loaded, quick_gelu = clip_model.load(str(model))
    assert quick_gelu
    for name, tensor in loaded.state_dict().items():
        if name != "logit_scale":  # not in a model file: open_clip's initial temperature
            assert torch.equal(tensor, original[name]), name
    # the all command's Q8_0 file: close, not equal
    tokens = clip_model.tokenizer(32)(["a red circle"])
    torch.set_grad_enabled(False)
    ref = torch.nn.functional.normalize(clip_model.load(str(recipe / "clip" / "clip.pt"))[0].encode_text(tokens))
    near = torch.nn.functional.normalize(clip_model.load(str(recipe / "model.gguf"))[0].encode_text(tokens))
    torch.set_grad_enabled(True)
    assert float((ref * near).sum()) > 0.99


def test_clip_fine_tunes_from_a_model_file_with_hard_negatives(tmp_path, recipe):
    out = tmp_path / "clip"
    assert train("clip", "--out", out, "--steps", 2, "--batch", 4, "--init", recipe / "model.gguf",
                 "--hard-negatives", 1.0) == 0
    state = torch.load(out / "train_state.pt", weights_only=False)
    assert state["config"]["hard_negatives"] == 1.0 and len(state["config"]["init_sha256"]) == 64
    start = torch.load(recipe / "clip" / "clip.pt", weights_only=True)
    tuned = torch.load(out / "clip.pt", weights_only=True)
    delta = (tuned["visual.proj"] - start["visual.proj"]).abs().max()
    assert 0 < float(delta) < 0.05  # trained onwards from the file's weights, not from a fresh initialisation


def test_clip_text_only_keeps_the_image_tower_bit_for_bit(tmp_path, recipe, capsys):
    """`clip --text-only`: the text tower learns, the image tower (the transformer's condition) does not move."""
    out = tmp_path / "clip"
    start_path = recipe / "clip" / "clip.pt"
    assert train("clip", "--out", out, "--steps", 2, "--batch", 4, "--init", start_path, "--text-only",
                 "--lr", 1e-3) == 0
    assert torch.load(out / "train_state.pt", weights_only=False)["config"]["text_only"] is True
    start, tuned = torch.load(start_path, weights_only=True), torch.load(out / "clip.pt", weights_only=True)
    visual = [k for k in start if k.startswith("visual.")]
    assert visual and all(torch.equal(start[k], tuned[k]) for k in visual)
    assert float((tuned["text_projection"] - start["text_projection"]).abs().max()) > 0
    assert train("clip", "--out", tmp_path / "c2", "--steps", 1, "--batch", 2, "--text-only") == 2
    assert "--text-only needs --init" in capsys.readouterr().err


def test_clip_init_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "notes.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 20)
    assert train("clip", "--out", tmp_path / "c", "--steps", 1, "--batch", 2, "--init", bad) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("clipgen-train: error: --clip") and "notes.gguf" in err and "\n" not in err


def test_gpt_goes_on_from_a_checkpoint(tmp_path, recipe):
    """`gpt --init gpt.pt`: the next run starts from the finished one's weights, under its own schedule."""
    start_path = recipe / "gpt" / "gpt.pt"
    out = tmp_path / "gpt"
    assert train("gpt", "--out", out, "--steps", 2, "--batch", 2, "--clip", recipe / "clip" / "clip.pt",
                 "--vqgan", recipe / "vqgan" / "vqgan.ckpt", "--init", start_path, "--seed", 1) == 0
    state = torch.load(out / "train_state.pt", weights_only=False)
    assert len(state["config"]["init_sha256"]) == 64
    start = torch.load(start_path, weights_only=True)["model"]
    tuned = torch.load(out / "gpt.pt", weights_only=True)["model"]
    delta = max(float((tuned[k] - start[k]).abs().max()) for k in start if start[k].is_floating_point())
    assert 0 < delta < 0.05  # trained onwards from the checkpoint, not from seed 1's fresh initialisation


def test_gpt_goes_on_from_a_model_file(tmp_path, recipe, capsys):
    """`gpt --init model.gguf`: a converted transformer reads back as the checkpoint it came from (exactly from an
    F32 file), so a shipped model can be trained further when its gpt.pt is gone."""
    from clipgen_convert.gpt_model import ClipGenGPT
    from clipgen_train.train_gpt import _init_weights

    f32 = tmp_path / "model.f32.gguf"
    assert convert_main(["convert", "--clip", str(recipe / "clip" / "clip.pt"), "--vqgan",
                         str(recipe / "vqgan" / "vqgan.ckpt"), "--transformer", str(recipe / "gpt" / "gpt.pt"),
                         "--out", str(f32), "--quant", "f32", "--quiet"]) == 0
    ckpt = torch.load(recipe / "gpt" / "gpt.pt", weights_only=False)
    start = ckpt["model"]
    model = ClipGenGPT(**{k: ckpt["config"][k] for k in ("vocab_size", "layers", "d_model", "heads", "grid",
                                                          "cond_dim")})
    read = _init_weights(str(f32), model)
    assert set(read) == set(start) and all(torch.equal(read[k], start[k]) for k in start)
    out = tmp_path / "gpt"  # the Q8_0 file of the recipe: trains on from its dequantised weights
    assert train("gpt", "--out", out, "--steps", 1, "--batch", 2, "--clip", recipe / "clip" / "clip.pt",
                 "--vqgan", recipe / "vqgan" / "vqgan.ckpt", "--init", recipe / "model.gguf") == 0
    bad = tmp_path / "notes.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 20)
    capsys.readouterr()
    assert train("gpt", "--out", tmp_path / "g", "--steps", 1, "--batch", 2, "--clip", recipe / "clip" / "clip.pt",
                 "--vqgan", recipe / "vqgan" / "vqgan.ckpt", "--init", bad) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("clipgen-train: error: --init") and "notes.gguf" in err and "\n" not in err


def test_a_model_file_with_its_vqgan_encoder_is_a_whole_vqgan(tmp_path, recipe, capsys):
    """`--vqgan-encoder keep` (stage d of `all` sets it): the model file alone turns images into tokens, exactly as
    the checkpoint from an F32 file, so training can go on (`gpt --vqgan model.gguf`) when vqgan.ckpt is gone."""
    from clipgen_convert.component import ConversionError
    from clipgen_convert.vqgan import taming_state_dict_from_component
    from clipgen_convert.writer import read_component
    from clipgen_train import scenes, train_vqgan
    from clipgen_train.data import TrainingDataError

    ckpt = recipe / "vqgan" / "vqgan.ckpt"
    f32 = tmp_path / "vqgan.f32.gguf"
    assert convert_main(["convert", "--vqgan", str(ckpt), "--vqgan-encoder", "keep", "--out", str(f32),
                         "--quant", "f32", "--quiet"]) == 0
    original, hparams = train_vqgan.load(str(ckpt))
    read, read_hparams = train_vqgan.load(str(f32))
    assert read_hparams["ddconfig"] == {**hparams["ddconfig"], "codes": hparams["ddconfig"].get("codes", "euclidean"),
                                        "norm_groups": hparams["ddconfig"].get("norm_groups", 32)}
    want = original.state_dict()
    got = read.state_dict()
    assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
    images = torch.stack([scenes.render(scenes.sample_scene(7, i), 32) for i in range(16)])
    assert torch.equal(read.tokens(images), original.tokens(images))
    # The recipe's own Q8_0 file: trains a transformer with no vqgan.ckpt at hand.
    assert read_component(str(recipe / "model.gguf"), "vqgan").meta["has_encoder"] is True
    assert train("gpt", "--out", tmp_path / "gpt", "--steps", 1, "--batch", 2, "--clip", recipe / "clip" / "clip.pt",
                 "--vqgan", recipe / "model.gguf") == 0
    # Without the encoder: a one-line error that says how to keep it.
    plain = tmp_path / "plain.gguf"
    assert convert_main(["convert", "--vqgan", str(ckpt), "--out", str(plain), "--quiet"]) == 0
    with pytest.raises(TrainingDataError, match="plain.gguf.*--vqgan-encoder keep"):
        train_vqgan.load(str(plain))
    with pytest.raises(ConversionError, match="no encoder"):
        taming_state_dict_from_component(read_component(str(plain), "vqgan"))
    capsys.readouterr()
    with pytest.raises(SystemExit):
        convert_main(["convert", "--vqgan", str(ckpt), "--vqgan-encoder", "maybe", "--out", str(plain)])
    assert "--vqgan-encoder: invalid keep-or-drop value: 'maybe'" in capsys.readouterr().err


def test_every_preset_sizes_every_stage():
    from clipgen_train import clip_model, cli, train_gpt, train_vqgan

    for preset in cli.PRESETS:
        assert preset in clip_model.PRESETS and preset in train_vqgan.PRESETS and preset in train_gpt.PRESETS, preset
    assert train_gpt.PRESETS["deep-f4"]["layers"] > train_gpt.PRESETS["small-f4"]["layers"]
    assert train_vqgan.PRESETS["deep-f4"] is train_vqgan.PRESETS["small-f4"]  # its tokens are small-f4's


def test_cond_drop_zeroes_whole_conditions_at_its_rate():
    from clipgen_train.train_gpt import drop

    cond = torch.rand(4000, 8) + 0.5  # [N, E], no zero entries
    out = drop(cond, 0.25, torch.Generator().manual_seed(0))
    zero = (out == 0).all(dim=1)  # [N]
    assert torch.equal(out[~zero], cond[~zero]) and not (out[~zero] == 0).any()  # a row is kept whole or dropped
    assert 0.22 < float(zero.float().mean()) < 0.28
    assert torch.equal(drop(cond, 0.0, torch.Generator().manual_seed(0)), cond)


def test_gpt_cond_drop_is_recorded_and_checked(tmp_path, recipe, capsys):
    args = ["--steps", 1, "--batch", 2, "--clip", recipe / "clip" / "clip.pt", "--vqgan", recipe / "vqgan" / "vqgan.ckpt"]
    assert train("gpt", "--out", tmp_path / "g", *args, "--cond-drop", 0.5) == 0
    assert torch.load(tmp_path / "g" / "train_state.pt", weights_only=False)["config"]["cond_drop"] == 0.5
    assert train("gpt", "--out", tmp_path / "bad", *args, "--cond-drop", 1.0) == 2
    assert "--cond-drop 1.0: expected a probability" in capsys.readouterr().err


def test_gpt_init_errors_name_the_tensor(tmp_path, recipe, capsys):
    ckpt = torch.load(recipe / "gpt" / "gpt.pt", weights_only=True)
    name = next(iter(ckpt["model"]))
    ckpt["model"][name] = torch.zeros(3)
    bad = tmp_path / "other.pt"
    torch.save(ckpt, bad)
    assert train("gpt", "--out", tmp_path / "g", "--steps", 1, "--batch", 2, "--clip", recipe / "clip" / "clip.pt",
                 "--vqgan", recipe / "vqgan" / "vqgan.ckpt", "--init", bad) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("clipgen-train: error: --init") and "other.pt" in err and name in err and "\n" not in err

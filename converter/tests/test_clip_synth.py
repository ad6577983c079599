"""synth_clip is deterministic and converts without options; verify measures what quantisation did; tensor names
put each tensor in the storage type the contract intends; open_clip imports without torchvision."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from clipgen_convert import clip, clip_ref, quant, synth_clip

synth_clip.import_open_clip()  # with a stand-in torchvision where needed

#: Q8_0 keeps each weight within half a step of 1/127 of its block's largest value; through two tiny random blocks
#: the normalised embeddings stay far above the issue's 0.999 bound.
Q8_MIN_COSINE = 0.999


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return clip.load(synth_clip.write(str(tmp_path_factory.mktemp("synth")), "tiny", seed=0))


def _digest(path):
    sd = torch.load(path, weights_only=True)
    h = hashlib.sha256()
    for key in sorted(sd):
        h.update(key.encode())
        h.update(sd[key].numpy().tobytes())
    return h.hexdigest()


def test_synth_is_deterministic_from_the_seed(tmp_path):
    state = torch.random.get_rng_state()
    a = _digest(synth_clip.write(str(tmp_path / "a"), "tiny", seed=7))
    b = _digest(synth_clip.write(str(tmp_path / "b"), "tiny", seed=7))
    c = _digest(synth_clip.write(str(tmp_path / "c"), "tiny", seed=8))
    assert a == b != c
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's generator is left alone
    assert sorted(os.listdir(tmp_path / "a")) == ["clip.pt"]  # no temporary file left behind


def test_verify_q8_0_and_f32(tiny):
    f32 = clip_ref.verify(tiny, quant.roundtrip(tiny, "f32"))
    assert f32 == {"text_cosine": pytest.approx(1.0, abs=1e-6), "image_cosine": pytest.approx(1.0, abs=1e-6)}
    q8 = clip_ref.verify(tiny, quant.roundtrip(tiny, "q8_0"))
    assert Q8_MIN_COSINE <= q8["text_cosine"] < 1.0 - 1e-7
    assert Q8_MIN_COSINE <= q8["image_cosine"] < 1.0 - 1e-7


def test_verify_sees_a_damaged_tower(tiny):
    damaged = quant.roundtrip(tiny, "f32")
    damaged.tensors["text.blocks.1.mlp.proj.weight"] = np.zeros_like(damaged.tensors["text.blocks.1.mlp.proj.weight"])
    damaged.tensors["vision.ln_pre.weight"] = -damaged.tensors["vision.ln_pre.weight"]
    result = clip_ref.verify(tiny, damaged)
    assert result["text_cosine"] < 0.99 and result["image_cosine"] < 0.99


def test_storage_types_follow_the_names(tiny):
    q8 = {name for name, a in tiny.tensors.items()
          if quant.storage_type(name, a.shape, "q8_0").name == "Q8_0"}
    assert {"text.token_embedding.weight", "text.projection.weight", "vision.projection.weight",
            "text.blocks.0.attn.qkv.weight", "vision.blocks.1.mlp.proj.weight"} <= q8
    assert not q8 & {"text.positional_embedding", "vision.positional_embedding", "vision.class_embedding",
                     "vision.patch_embed.weight", "text.blocks.0.ln_1.weight", "text.blocks.0.attn.qkv.bias"}


def test_open_clip_imports_with_the_torchvision_stand_in():
    """Where torchvision cannot be imported, open_clip still imports and builds models (the stub is used)."""
    code = ("import sys; sys.modules['torchvision'] = None\n"  # makes `import torchvision` fail, as a broken one does
            "from clipgen_convert import synth_clip\n"
            "m = synth_clip.build('tiny', 0)\n"
            "import open_clip; print(open_clip.transform.F.__file__)\n"  # torchvision.transforms.functional
            "print(sum(p.numel() for p in m.parameters()))")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(clip.__file__))))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    stub_file, params = out.stdout.split()
    assert stub_file.startswith(synth_clip.STUB_DIR)
    assert int(params) == sum(p.numel() for p in synth_clip.build("tiny", 0).parameters())

"""`torchrun --nproc_per_node 2` runs the whole recipe unchanged (DDP over gloo on CPU), and two processes with
batch B each log the same losses as one process with batch 2B: the data stream, the gathered contrastive loss, the
gradient averaging and the VQGAN's codebook restarts do not depend on the number of processes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the training recipe needs PyTorch")

from clipgen_convert.loading import load_component  # noqa: E402
from train_fixtures import losses, train, train_subprocess  # noqa: E402

ARGS = ["all", "--steps", 3, "--warmup", 1, "--restart-every", 2]
#: Two processes sum gradients in another order than one; after 3 steps the losses agree to float rounding.
RTOL, ATOL = 2e-4, 1e-5


def test_two_processes_equal_one_with_the_global_batch(tmp_path):
    ddp = train_subprocess(*ARGS, "--batch", 2, "--out", tmp_path / "ddp", nproc=2)
    output = ddp.communicate(timeout=300)[0]
    assert ddp.returncode == 0, output
    assert train(*ARGS, "--batch", 4, "--out", tmp_path / "single") == 0
    for stage in ("clip", "vqgan", "gpt"):
        two, one = losses(tmp_path / "ddp" / stage), losses(tmp_path / "single" / stage)
        assert [r["step"] for r in two] == [r["step"] for r in one] == [1, 2, 3]
        for a, b in zip(two, one):
            for key in ("loss", *(k for k in a if k not in ("loss", "step", "lr", "image_to_text_top1"))):
                assert a[key] == pytest.approx(b[key], rel=RTOL, abs=ATOL), (stage, a["step"], key)
    assert (tmp_path / "ddp" / "model.gguf").is_file()
    assert load_component("gpt", str(tmp_path / "ddp" / "gpt" / "gpt.pt")).meta["grid"] == [8, 8]

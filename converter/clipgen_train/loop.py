"""The training loop every stage shares: distributed set-up, seeded steps, resumable checkpoints, progress, loss log.

A stage supplies its model, a batch for (step, rank), its losses, and an export in the converter's layout; this loop
does the rest the same way for all three:

- **Distributed:** under `torchrun --nproc_per_node N` (RANK / WORLD_SIZE / LOCAL_RANK in the environment) the model
  is wrapped in DistributedDataParallel over gloo on CPU or nccl on CUDA; alone it runs as rank 0 of 1. Each rank
  draws its own slice of the global batch (data.rank_indices), so the losses do not depend on N.
- **Resumable:** OUT/train_state.pt holds model, optimizer, scheduler, step, each rank's RNG state and the stage's own
  state, written atomically every --save-every steps. Rerunning the same command continues from it, and because the
  batches are a pure function of the step, an interrupted and resumed run logs the same losses as an uninterrupted one.
- **Logged:** OUT/losses.jsonl, one JSON object per step (rank-averaged losses, learning rate, seconds per step).
- **Mixed precision (--bf16):** the stage's forward and losses run under torch.autocast(bfloat16): matrix products in
  bfloat16, float32 master weights, gradients and AdamW state. It is an execution setting like --threads, not part of
  what a resumed run must share; a resumed run that changes it says so (its losses then differ in the last digits).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist
from torch import nn

from clipgen_train.clip_model import save_atomic
from clipgen_train.data import TrainingDataError

STATE_FILE = "train_state.pt"
LOG_FILE = "losses.jsonl"


@dataclass
class RunOptions:
    """What every stage's command line sets (see cli.py for the help of each)."""

    out: str  # output folder: state, loss log, exported checkpoint
    steps: int  # total optimizer steps of the schedule
    batch: int  # samples per rank per step
    seed: int
    lr: float
    warmup: int = 100  # linear warm-up steps, then cosine decay to lr / 10
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    save_every: int = 200
    stop_at: int | None = None  # stop (resumably) after this step, e.g. to split a long run across sessions
    progress: bool = True
    bf16: bool = False  # forward passes under bfloat16 autocast (weights, gradients and optimizer stay float32)


@dataclass
class Dist:
    """This process's place in the run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """Joins the process group torchrun describes in the environment (gloo on CPU, nccl on CUDA); rank 0 of 1 alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, world, local, device)


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def mean_over_ranks(values: dict[str, float], d: Dist) -> dict[str, float]:
    """Each metric averaged over the ranks (one all-reduce)."""
    if d.world == 1:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=d.device)  # [metrics]
    dist.all_reduce(t)
    return {k: float(v) / d.world for k, v in zip(values, t.tolist())}


def _schedule(opts: RunOptions):
    def factor(step: int) -> float:
        if step < opts.warmup:
            return (step + 1) / opts.warmup
        progress = (step - opts.warmup) / max(1, opts.steps - opts.warmup)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return factor


def _optimizer(params: list[nn.Parameter], opts: RunOptions) -> torch.optim.Optimizer:
    """AdamW; matrices decay, vectors (norms, biases, scales) do not."""
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": opts.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=opts.lr, betas=(0.9, 0.95))


def run(stage, opts: RunOptions, d: Dist) -> dict[str, float]:
    """Trains `stage` to opts.steps (or opts.stop_at), resuming from OUT/train_state.pt when it exists.

    `stage` provides: name, config (dict; must match a resumed state), model (nn.Module), parameters() (trainable),
    batch(step, d) -> dict, losses(model, batch, step) -> dict with 'loss', after_step(step, d), state() /
    load_state(dict), export(out_dir) -> path. Returns the last step's rank-averaged losses.
    """
    from tqdm import tqdm

    os.makedirs(opts.out, exist_ok=True)
    model = stage.model.to(d.device)
    params = [p for p in stage.parameters() if p.requires_grad]
    optimizer = _optimizer(params, opts)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(opts))
    torch.manual_seed(opts.seed * 1000 + d.rank)  # dropout and other in-step draws; data do not use it
    start = _resume(stage, opts, d, optimizer, scheduler)
    wrapped = model
    if d.world > 1:
        wrapped = nn.parallel.DistributedDataParallel(model, device_ids=[d.local_rank] if d.device.type == "cuda"
                                                      else None)
    end = min(opts.steps, opts.stop_at) if opts.stop_at is not None else opts.steps
    log = open(os.path.join(opts.out, LOG_FILE), "a", encoding="utf-8") if d.main else None
    bar = tqdm(total=end, initial=start, desc=stage.name, disable=not (d.main and opts.progress), dynamic_ncols=True)
    values: dict[str, float] = {}
    try:
        for step in range(start, end):
            began = time.perf_counter()
            model.train()
            batch = stage.batch(step, d)
            with torch.autocast(d.device.type, dtype=torch.bfloat16, enabled=opts.bf16):
                losses = stage.losses(wrapped, batch, step)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            if opts.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, opts.grad_clip)
            optimizer.step()
            scheduler.step()
            stage.after_step(step, d)
            values = mean_over_ranks({k: float(v.detach()) for k, v in losses.items()}, d)
            if log is not None:
                entry = {"step": step + 1, **values, "lr": scheduler.get_last_lr()[0],
                         "seconds": time.perf_counter() - began}
                log.write(json.dumps(entry) + "\n")
                log.flush()
            bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()}, refresh=False)
            bar.update()
            if (step + 1) % opts.save_every == 0 or step + 1 == end:
                _save(stage, opts, d, optimizer, scheduler, step + 1)
    finally:
        bar.close()
        if log is not None:
            log.close()
    return values


def _state_path(opts: RunOptions) -> str:
    return os.path.join(opts.out, STATE_FILE)


def _save(stage, opts: RunOptions, d: Dist, optimizer, scheduler, step: int) -> None:
    """Writes the resumable state and the converter-layout export (rank 0), after gathering every rank's RNG."""
    rng = [torch.get_rng_state(), torch.cuda.get_rng_state() if d.device.type == "cuda" else None]
    rngs = [rng]
    if d.world > 1:
        rngs = [None] * d.world
        dist.all_gather_object(rngs, rng)
    if d.main:
        save_atomic({"stage": stage.name, "config": stage.config, "options": _resume_keys(opts, d),
                     "step": step, "model": stage.model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "rng": rngs, "stage_state": stage.state(),
                     "bf16": opts.bf16},
                    _state_path(opts))
        stage.export(opts.out)
    barrier(d)


def _resume_keys(opts: RunOptions, d: Dist) -> dict:
    """The options a resumed run must share with the one it continues (they fix the batches and the schedule)."""
    keep = ("steps", "batch", "seed", "lr", "warmup", "weight_decay")
    return {k: v for k, v in asdict(opts).items() if k in keep}


def _resume(stage, opts: RunOptions, d: Dist, optimizer, scheduler) -> int:
    """Loads OUT/train_state.pt when present and returns its step (0 when starting fresh)."""
    path = _state_path(opts)
    if not os.path.exists(path):
        if d.main and os.path.exists(os.path.join(opts.out, LOG_FILE)):
            os.remove(os.path.join(opts.out, LOG_FILE))
        barrier(d)
        return 0
    state = torch.load(path, map_location=d.device, weights_only=False)
    if state.get("stage") != stage.name:
        raise TrainingDataError(f"{path} is the state of the '{state.get('stage')}' stage, not '{stage.name}': "
                                "use another --out folder")
    for what, mine, theirs in (("config", stage.config, state["config"]),
                               ("options", _resume_keys(opts, d), state["options"])):
        diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if diff:
            k = diff[0]
            raise TrainingDataError(f"{path}: cannot resume: {what} '{k}' was {theirs.get(k)!r}, now {mine.get(k)!r} "
                                    "(use the same settings, or another --out folder to start over)")
    stage.model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    stage.load_state(state["stage_state"])
    if len(state["rng"]) == d.world:
        cpu_rng, cuda_rng = state["rng"][d.rank]
        torch.set_rng_state(cpu_rng.cpu())
        if cuda_rng is not None and d.device.type == "cuda":
            torch.cuda.set_rng_state(cuda_rng.cpu())
    elif d.main:  # the data stream does not depend on it; only dropout draws differ from an unbroken run
        print(f"note: {path} was saved by {len(state['rng'])} processes, this run has {d.world}: "
              "per-process random states start afresh", flush=True)
    step = int(state["step"])
    if d.main and state.get("bf16", False) != opts.bf16:
        print(f"note: {path} was trained {'with' if state.get('bf16', False) else 'without'} --bf16 up to step "
              f"{step}; this run continues {'with' if opts.bf16 else 'without'} it", flush=True)
    if d.main:
        _truncate_log(os.path.join(opts.out, LOG_FILE), step)
    barrier(d)
    return step


def _truncate_log(path: str, step: int) -> None:
    """Drops log lines past the resumed step (written after the last save by the interrupted run)."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)

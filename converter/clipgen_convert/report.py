"""The per-tensor quantisation error table `convert` prints (as llama2.c's export does), with totals.

Relative RMS is rms(original - stored) / rms(original): about 0.3-0.6% is normal for Q8_0 on trained weights and
0.02% for F16. A tensor far above its neighbours points at outliers that the runtime will feel.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence, TextIO

from clipgen_convert.writer import TensorReport


def human_bytes(n: int) -> str:
    """Bytes in B / KiB / MiB / GiB with three significant digits."""
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.3g} {unit}"
        size /= 1024
    return f"{size:.3g} GiB"


def human_count(n: int) -> str:
    """A parameter count as 1.23M / 45.6K."""
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    if n >= 1_000:
        return f"{n / 1e3:.1f}K"
    return str(n)


def shape_text(shape: Sequence[int]) -> str:
    """A shape as "[a, b, c]"."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def format_table(reports: Sequence[TensorReport]) -> list[str]:
    """The table lines: one per tensor, then totals per storage type and overall."""
    if not reports:
        return ["(no tensors)"]
    name_w = max(len("tensor"), *(len(r.name) for r in reports))
    shape_w = max(len("shape"), *(len(shape_text(r.shape)) for r in reports))
    lines = [f"{'tensor':<{name_w}}  {'type':<4}  {'shape':<{shape_w}}  {'bytes':>10}  {'max abs':>10}  {'rel RMS':>9}"]
    for r in reports:
        lines.append(f"{r.name:<{name_w}}  {r.qtype.name:<4}  {shape_text(r.shape):<{shape_w}}  "
                     f"{human_bytes(r.nbytes):>10}  {r.error.max_abs:>10.3g}  {r.error.rel_rms:>9.3%}")
    lines.append("")
    lines.extend(format_totals(reports))
    return lines


def format_totals(reports: Sequence[TensorReport]) -> list[str]:
    """Totals: tensors, parameters and bytes per storage type and overall, and the worst relative error."""
    params: Counter[str] = Counter()
    nbytes: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for r in reports:
        n = 1
        for d in r.shape:
            n *= d
        params[r.qtype.name] += n
        nbytes[r.qtype.name] += r.nbytes
        count[r.qtype.name] += 1
    lines = [f"{t}: {count[t]} tensors, {human_count(params[t])} parameters, {human_bytes(nbytes[t])}"
             for t in sorted(count)]
    total_params = sum(params.values())
    total_bytes = sum(nbytes.values())
    lines.append(f"total: {len(reports)} tensors, {human_count(total_params)} parameters, "
                 f"{human_bytes(total_bytes)} of tensor data ({total_bytes / max(total_params, 1):.3f} bytes/parameter)")
    worst = max(reports, key=lambda r: r.error.rel_rms)
    if worst.error.rel_rms > 0:
        lines.append(f"largest relative RMS error: {worst.error.rel_rms:.3%} ({worst.name})")
    return lines


def print_table(reports: Sequence[TensorReport], out: TextIO) -> None:
    """Prints `format_table(reports)` to `out`."""
    for line in format_table(reports):
        print(line, file=out)

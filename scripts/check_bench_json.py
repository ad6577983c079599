"""Checks the JSON of `clipgen bench kernels` (read on stdin): every figure present, positive and finite."""
import json
import math
import sys

report = json.load(sys.stdin)
errors = []


def positive(value, what):
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        errors.append(f"{what} = {value!r}, expected a positive number")


threads = sorted({r["threads"] for r in report["read"]})
if threads != [1, 2]:
    errors.append(f"read figures for threads {threads}, expected [1, 2]")
for r in report["read"]:
    positive(r["gigabytesPerSecond"]["median"], f"read {r['threads']}T")
shapes = {(g["threads"], g["rows"], g["columns"], g["layout"]) for g in report["gemv"]}
for t in (1, 2):
    for rows, columns in ((4096, 4096), (1024, 4096)):
        for layout in ("rows", "x8"):
            if (t, rows, columns, layout) not in shapes:
                errors.append(f"no GEMV figure for {t}T {rows}x{columns} {layout}")
for g in report["gemv"]:
    positive(g["gigabytes_per_second"]["median"], f"gemv {g['rows']}x{g['columns']}")
    positive(g["ratio_to_read_bandwidth"], f"ratio_to_read_bandwidth {g['rows']}x{g['columns']}")
for g in report["gemm"]:
    positive(g["gigaflops"]["median"], f"gemm {g['threads']}T")
if not report["machine"]:
    errors.append("empty machine line")
if errors:
    sys.exit("clipgen bench kernels JSON: " + "; ".join(errors))
print(f"bench kernels JSON ok: {len(report['gemv'])} GEMV figures, machine: {report['machine'][:60]}...")

"""`clipgen-convert verify`: the float checkpoints against the converted file, stage by stage, with pass marks.

For each component given, the original checkpoint is loaded again and the model file's tensors are dequantised;
the component's PyTorch reference (clip_ref, gpt_ref, vqgan_ref) runs both on identical fixed inputs and reports
agreement. Checkpoints are matched to the file by the sha256 recorded at conversion, so a verify can only pass
against the checkpoints the file was really made from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gguf import GGUFReader

from clipgen_convert.component import Component, ConversionError
from clipgen_convert.loading import COMPONENT_KINDS, import_part, load_component
from clipgen_convert.provenance import sha256_file, source_sha256_key
from clipgen_convert.writer import COMPONENTS_KEY, field_value, read_component

#: Pass marks, per component and metric (the issue's acceptance figures for Q8_0; F16 and F32 meet them easily).
#: Metrics a reference reports that are not listed here (e.g. gpt logit_rms) are shown without a verdict.
THRESHOLDS: dict[str, dict[str, float]] = {
    # Cosine of the normalised embeddings: the transformer is conditioned on this vector, so it must barely move.
    "clip": {"text_cosine": 0.999, "image_cosine": 0.999},
    # Same greedy next token in at least 95% of positions of a fixed sequence.
    "gpt": {"top1_agreement": 0.95},
    # Decoded image PSNR in dB (ml-stable-diffusion fails a conversion below 35 dB).
    "vqgan": {"psnr_db": 35.0},
}

#: Metrics that must be reported for a component to pass (image_cosine only exists with a vision tower).
REQUIRED: dict[str, tuple[str, ...]] = {"clip": ("text_cosine",), "gpt": ("top1_agreement",), "vqgan": ("psnr_db",)}


@dataclass(frozen=True)
class Check:
    """One reported metric and its verdict (None when the metric has no pass mark)."""

    kind: str
    metric: str
    value: float
    threshold: float | None
    passed: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {"component": self.kind, "metric": self.metric, "value": self.value,
                "threshold": self.threshold, "pass": self.passed}


def assign_checkpoints(model_path: str, reader: GGUFReader, explicit: dict[str, str],
                       unnamed: list[str]) -> dict[str, str]:
    """kind -> checkpoint path: the explicit ones checked, the unnamed (--from) ones matched by recorded sha256.

    `reader` is the model file opened with writer.open_model.
    """
    kinds = list(field_value(reader, COMPONENTS_KEY) or [])
    recorded = {k: field_value(reader, source_sha256_key(k)) for k in kinds}
    assigned: dict[str, str] = {}
    for kind, path in explicit.items():
        flag = COMPONENT_KINDS[kind].flag
        if kind not in kinds:
            raise ConversionError(f"{flag} {path}: {model_path} has no {kind} component (it holds: {', '.join(kinds)})")
        if recorded[kind] is not None and sha256_file(path) != recorded[kind]:
            raise ConversionError(f"{flag} {path}: not the checkpoint {model_path} was converted from "
                                  f"(its sha256 differs from the recorded {recorded[kind]})")
        assigned[kind] = path
    for path in unnamed:
        digest = sha256_file(path)
        matches = [k for k in kinds if recorded[k] == digest]
        if not matches:
            raise ConversionError(f"--from {path}: its sha256 matches none of the checkpoints {model_path} was "
                                  "converted from (name it with --clip / --vqgan / --transformer instead)")
        for kind in matches:
            if kind in assigned and assigned[kind] != path:
                raise ConversionError(f"--from {path}: the {kind} checkpoint is already given as {assigned[kind]}")
            assigned[kind] = path
    if not assigned:
        raise ConversionError("verify needs the original checkpoints: --clip / --vqgan / --transformer, or --from")
    return {k: assigned[k] for k in COMPONENT_KINDS if k in assigned}


def _check_same_tensors(original: Component, quantised: Component, model_path: str) -> None:
    for name, array in original.tensors.items():
        got = quantised.tensors.get(name)
        if got is None:
            raise ConversionError(f"{model_path}: {original.kind} tensor '{name}' of {original.source} is missing")
        if got.shape != array.shape:
            raise ConversionError(f"{model_path}: {original.kind} tensor '{name}' has shape {list(got.shape)}, "
                                  f"but {list(array.shape)} in {original.source}")
    extra = sorted(set(quantised.tensors) - set(original.tensors))
    if extra:
        raise ConversionError(f"{model_path}: {original.kind} tensors not in {original.source}: {', '.join(extra)}")


def verify_component(model_path: str, reader: GGUFReader, kind: str, checkpoint: str,
                     options: dict[str, object]) -> list[Check]:
    """Loads `checkpoint`, reads `kind` from the model file, runs the reference on both; one Check per metric.

    `options` are the loader keywords given on the command line; those left None take the value the file
    recorded (LoaderOption.meta_key), so the checkpoint is read the way it was at conversion.
    """
    spec = COMPONENT_KINDS[kind]
    reference = import_part(spec.reference, f"verifying the {spec.title}")
    quantised = read_component(model_path, kind, reader)
    options = dict(options)
    for o in spec.options:
        if options.get(o.kwarg) is None:
            options[o.kwarg] = quantised.meta.get(o.meta_key)
    original = load_component(kind, checkpoint, options)
    _check_same_tensors(original, quantised, model_path)
    metrics = reference.verify(original, quantised)
    missing = [m for m in REQUIRED[kind] if m not in metrics]
    if missing:
        raise ConversionError(f"the {spec.title} reference reported no {', '.join(missing)}")
    checks = []
    for metric, value in metrics.items():
        threshold = THRESHOLDS[kind].get(metric)
        value = float(value)
        passed = None if threshold is None else bool(np.isfinite(value) and value >= threshold)
        checks.append(Check(kind, metric, value, threshold, passed))
    return checks


def format_checks(checks: list[Check]) -> list[str]:
    """The verify table: component, metric, value, pass mark, PASS / FAIL, then one overall line."""
    lines = [f"{'component':<9}  {'metric':<15}  {'value':>10}  {'pass mark':>9}  result"]
    for c in checks:
        mark = "" if c.threshold is None else f">= {c.threshold:g}"
        verdict = "" if c.passed is None else ("PASS" if c.passed else "FAIL")
        lines.append(f"{c.kind:<9}  {c.metric:<15}  {c.value:>10.6g}  {mark:>9}  {verdict}".rstrip())
    judged = [c for c in checks if c.passed is not None]
    failed = [c for c in judged if not c.passed]
    lines.append(f"verify: {'FAIL' if failed else 'PASS'} ({len(judged) - len(failed)} of {len(judged)} checks passed)")
    return lines

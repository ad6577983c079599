"""clipgen-convert: turns float CLIP-GEN checkpoints into the clipgen GGUF model file (see docs/FORMAT.md).

The data flows one way: a per-component loader (clip, vqgan, gpt) reads a checkpoint into a `Component` with
canonical tensor names; the writer quantises and stores all components in one GGUF file; `verify` runs a float
reference against the dequantised file.
"""

__version__ = "0.1.0"

"""clipgen-train: CLIP-GEN's language-free training recipe (CLIP prior, VQGAN, transformer) on procedural scenes.

Each stage writes its checkpoint in the layout the converter reads (OpenAI CLIP, taming VQGAN, HFAiLab GPT), so a
trained model reaches the runtime through exactly the path a user's checkpoint takes (docs/TRAINING.md).
"""

__version__ = "0.1.0"

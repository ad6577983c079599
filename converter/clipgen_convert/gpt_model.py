"""The CLIP-GEN transformer as a torch module whose checkpoints are in HFAiLab/clip-gen's GPT layout.

Same attribute names and computation as HFAiLab's models/gpt.py (tok_emb, pos_emb, cond_proj, blocks.N.encoder =
nn.TransformerEncoderLayer pre-LN with exact GELU, blocks.N.mask, norm, head), so ``state_dict()`` is key-compatible
with their gpt_coco.pt. The synth command and our training recipe both use it, so what they write goes through the
converter exactly like a user's HFAiLab checkpoint.

The condition is ONE prefix token: x = [cond_proj(c), tok_emb(t_0 .. t_{L-1})] + pos_emb[:L+1], where c is the
L2-normalised CLIP embedding (normalised by the caller, as HFAiLab's CLIPWrapper does). Output position i predicts
token i, so a grid of h*w tokens is trained and sampled with at most h*w positions (the last token is never fed back):
``block_size`` = h*w, exactly as HFAiLab (block_size 256 for 16x16).
"""

from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    """One pre-LN transformer layer with its causal mask kept as a buffer (HFAiLab stores it in the checkpoint)."""

    def __init__(self, d_model: int, heads: int, block_size: int, dropout: float):
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout, activation="gelu",
                                                  batch_first=True, norm_first=True)
        self.register_buffer("mask", ~torch.tril(torch.ones(block_size, block_size, dtype=torch.bool)))  # True: hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.size(1)
        return self.encoder(x, self.mask[:length, :length])  # [N, L, d]


class ClipGenGPT(nn.Module):
    """p(tokens | CLIP embedding): a GPT over VQGAN codebook indices with the embedding as a prefix token.

    Args:
        vocab_size: VQGAN codebook size.
        layers, d_model, heads: transformer depth, width and attention heads (HFAiLab gpt2_medium: 24, 1024, 16).
        grid: VQGAN token grid [h, w]; block_size = h * w positions.
        cond_dim: width of the CLIP embedding.
        dropout: training dropout (HFAiLab: 0.1).
    """

    def __init__(self, vocab_size: int, layers: int, d_model: int, heads: int, grid: list[int], cond_dim: int,
                 dropout: float = 0.1):
        super().__init__()
        self.grid = list(grid)
        self.block_size = grid[0] * grid[1]
        self.config = dict(vocab_size=vocab_size, layers=layers, d_model=d_model, heads=heads, grid=self.grid,
                           cond_dim=cond_dim)
        self.tok_emb = nn.Embedding(vocab_size, d_model)  # [vocab, d]
        self.pos_emb = nn.Parameter(torch.zeros(1, self.block_size, d_model))  # [1, positions, d]
        self.cond_proj = nn.Linear(cond_dim, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(d_model, heads, self.block_size, dropout) for _ in range(layers)])
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """tokens [N, L] (L < block_size), cond [N, cond_dim] L2-normalised -> logits [N, L + 1, vocab].

        Row i of the logits is the distribution of token i given the condition and tokens 0 .. i-1.
        """
        x = torch.cat([self.cond_proj(cond)[:, None], self.tok_emb(tokens)], dim=1)  # [N, L + 1, d]
        if x.size(1) > self.block_size:
            raise ValueError(f"{x.size(1)} positions exceed block_size {self.block_size}")
        x = self.drop(x + self.pos_emb[:, :x.size(1)])  # [N, L + 1, d]
        return self.head(self.norm(self.blocks(x)))  # [N, L + 1, vocab]

    def checkpoint(self, **extra) -> dict:
        """What to torch.save: HFAiLab's {'model': state_dict, 'epoch': ...} plus 'config', which records what the
        weights cannot show (heads, grid) so the converter need not infer them."""
        return {"model": self.state_dict(), "config": dict(self.config), **extra}


"""Parity table: zoo against transformers on a tiny model of every family (random weights made
by transformers, copied through zoo's name maps). Prints the max abs logit difference (fp32)
without padding, with right padding and with left padding, and the loss difference.

Usage: python tools/parity.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_model import batch, hf_positions_kwargs
from tests.tiny import FAMILIES, hf_model, tiny_spec, zoo_from_hf


def left_pad(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    left, left_ids = torch.zeros_like(mask), torch.zeros_like(ids)
    for row in range(ids.shape[0]):
        n = int(mask[row].sum())
        left[row, -n:], left_ids[row, -n:] = 1, ids[row, :n]
    return left_ids, left


def main() -> None:
    print(f"{'family':12s} {'no padding':>12s} {'right pad':>12s} {'left pad':>12s} "
          f"{'loss':>12s}")
    for label in FAMILIES:
        spec = tiny_spec(label)
        hf = hf_model(spec)
        model = zoo_from_hf(spec, hf)
        ids, mask = batch(spec.vocab_size)
        left_ids, left = left_pad(ids, mask)
        with torch.no_grad():
            plain = (model(ids) - hf(ids).logits).abs().max()
            real = mask.bool()
            right = (model(ids, attention_mask=mask)[real]
                     - hf(ids, attention_mask=mask).logits[real]).abs().max()
            real = left.bool()
            theirs = hf(left_ids, attention_mask=left, **hf_positions_kwargs(hf, left)).logits
            leftd = (model(left_ids, attention_mask=left)[real] - theirs[real]).abs().max()
            loss = (model.loss(ids) - hf(ids, labels=ids).loss).abs()
        print(f"{label:12s} {plain:12.2e} {right:12.2e} {leftd:12.2e} {loss:12.2e}")


if __name__ == "__main__":
    main()

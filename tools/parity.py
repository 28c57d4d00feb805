"""Parity table: zoo against transformers on a tiny model of every family (random weights made
by transformers, copied through zoo's name maps). Prints the max abs logit difference (fp32)
without padding, with right padding and with left padding, and the loss difference.

Usage: python tools/parity.py
"""

from __future__ import annotations

from zoo.testing import FAMILIES, hf_model, parity, tiny_spec, zoo_from_hf


def main() -> None:
    print(f"{'family':12s} {'no padding':>12s} {'right pad':>12s} {'left pad':>12s} "
          f"{'loss':>12s}")
    for label in FAMILIES:
        spec = tiny_spec(label)
        hf = hf_model(spec)
        diffs = parity(zoo_from_hf(spec, hf), hf, spec.vocab_size)
        print(f"{label:12s} " + " ".join(f"{value:12.2e}" for value in diffs.values()))


if __name__ == "__main__":
    main()

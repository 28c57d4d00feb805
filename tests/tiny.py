"""The tiny models every test shares live in `zoo.testing` (the parity tool uses them too)."""

from zoo.testing import FAMILIES, SMALL, hf_model, tiny_spec, zoo_from_hf

__all__ = ["FAMILIES", "SMALL", "hf_model", "tiny_spec", "zoo_from_hf"]

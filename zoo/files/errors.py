"""The one error for weights that cannot be read as what they claim to be: a safetensors file
or index, a GGUF file, a Hub folder, a distributed checkpoint. It lives below every reader, so
each raises the same class and a caller catches one."""

from __future__ import annotations


class WeightsError(ValueError):
    """A weights file that cannot be read as what it claims to be."""

"""The one error for weights that cannot be read as what they claim to be: a safetensors file
or index, a GGUF file, a Hub folder, a distributed checkpoint. It lives below every reader, so
each raises the same class and a caller catches one."""

from __future__ import annotations


class WeightsError(ValueError):
    """A weights file that cannot be read as what it claims to be."""


class NoSpecError(WeightsError):
    """Weights whose architecture zoo cannot read a spec for (a model_type it does not know, a
    config its reader refuses, no config at all); `reason` says which in a few words. Their
    tensor headers can still be counted."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

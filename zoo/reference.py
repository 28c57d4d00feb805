"""transformers as the independent reference: its config object for a spec, and its own count.

zoo never needs transformers to run; verification, the tests and the benchmarks compare against
it. Importing this module is cheap; its functions import transformers and torch.
"""

from __future__ import annotations

from typing import Any

from zoo.architectures import UnsupportedConfigError, write_config
from zoo.spec import ModelSpec


def transformers_config(spec: ModelSpec) -> Any:
    """`write_config` as transformers' own config object."""
    import transformers

    config = write_config(spec)
    return transformers.CONFIG_MAPPING[config.pop("model_type")](**config)


def transformers_count(spec: ModelSpec) -> int | None:
    """What transformers counts for this spec, built on the meta device; None when no
    transformers class has these parameters. Local attention is parameter-free, so a pattern
    no class expresses (GPT-3's banded layers) is counted as the all-dense model it otherwise
    is."""
    import torch
    import transformers

    def dense() -> ModelSpec:
        return spec.with_changes(attention_pattern=["global"], local_window=None,
                                 local_rope_theta=None)

    for candidate in (lambda: spec, dense):
        try:
            hf_config = transformers_config(candidate())
        except UnsupportedConfigError:
            continue
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(hf_config)
        return sum(p.numel() for p in model.parameters())
    return None

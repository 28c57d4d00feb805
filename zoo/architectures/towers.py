"""Closed forms for the towers a wrapper config holds beside its text decoder (a ViT that
reads images, the projector into the text width), so that a wrapper's whole checkpoint is
counted, not only the decoder zoo models. Each reads its sub-config with its class's own
defaults (transformers 5.25)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import UnsupportedConfigError, defaults_under

# SiglipVisionConfig's defaults (google/siglip-base-patch16-224)
SIGLIP_VISION = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                 "num_channels": 3, "image_size": 224, "patch_size": 16,
                 "vision_use_head": True}
# Idefics3VisionConfig's defaults: SigLIP's layers without the pooling head
IDEFICS3_VISION = {"hidden_size": 1152, "intermediate_size": 3072, "num_hidden_layers": 12,
                   "num_channels": 3, "image_size": 224, "patch_size": 32}


def _square(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1] \
            and isinstance(value[0], int):
        return value[0]
    raise UnsupportedConfigError(f"vision_config {key} {value!r}: zoo counts square images "
                                 f"and patches (one integer)")


def siglip_vision(config: Mapping[str, Any] | None) -> int:
    """SiglipVisionModel: the patch convolution (with bias) and one learned position per
    patch; per layer two biased LayerNorms, q/k/v/out with biases and the GELU MLP's two
    biased matrices; the final LayerNorm; and with `vision_use_head` the attention-pooling
    head (a probe, nn.MultiheadAttention's packed q/k/v and output, a LayerNorm, an MLP)."""
    v = defaults_under(config or {}, SIGLIP_VISION)
    h, inner, layers = v["hidden_size"], v["intermediate_size"], v["num_hidden_layers"]
    patch = _square(v["patch_size"], "patch_size")
    patches = (_square(v["image_size"], "image_size") // patch) ** 2
    norm = 2 * h
    attention = 4 * (h * h + h)
    mlp = (h * inner + inner) + (inner * h + h)
    embeddings = v["num_channels"] * patch * patch * h + h + patches * h
    head = (h + attention + norm + mlp) if v["vision_use_head"] else 0
    return embeddings + layers * (2 * norm + attention + mlp) + norm + head


def idefics3_vision(config: Mapping[str, Any] | None) -> int:
    """Idefics3VisionTransformer (Idefics3's and Aria's tower): SigLIP's patch convolution,
    positions, layers and final LayerNorm, with no pooling head."""
    v = defaults_under(config or {}, IDEFICS3_VISION)
    return siglip_vision({**v, "vision_use_head": False})

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


# GotOcr2VisionConfig's defaults (GOT-OCR 2.0's SAM ViT-B image encoder)
GOT_OCR2_VISION = {"hidden_size": 768, "output_channels": 256, "num_hidden_layers": 12,
                   "num_attention_heads": 12, "num_channels": 3, "image_size": 1024,
                   "patch_size": 16, "qkv_bias": True, "use_abs_pos": True, "use_rel_pos": True,
                   "window_size": 14, "global_attn_indexes": [2, 5, 8, 11], "mlp_dim": 3072}


def _integer(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise UnsupportedConfigError(f"got_ocr2 vision_config {key} {value!r}: expected one "
                                 f"integer (the class divides image_size by patch_size)")


def got_ocr2_vision(config: Mapping[str, Any] | None) -> int:
    """GotOcr2VisionEncoder (SAM's ViT): the patch convolution (with bias), with `use_abs_pos`
    one learned position per patch; per layer two LayerNorms, a packed qkv (biased with
    `qkv_bias`), a biased output, a biased GELU MLP of mlp_dim and, with `use_rel_pos`, two
    relative-position tables of 2 x side - 1 rows of head width (side: window_size on windowed
    layers, the patch grid on the layers in global_attn_indexes or with window_size 0); then
    the neck: a 1x1 convolution to output_channels, a 3x3 one (neither biased), two
    LayerNorms."""
    v = defaults_under(config or {}, GOT_OCR2_VISION)
    h, heads, out = v["hidden_size"], v["num_attention_heads"], v["output_channels"]
    patch = _integer(v["patch_size"], "patch_size")
    grid = _integer(v["image_size"], "image_size") // patch
    window, layers = v["window_size"], v["num_hidden_layers"]
    global_layers = set(v["global_attn_indexes"])
    per_layer = (2 * 2 * h + 3 * h * h + (3 * h if v["qkv_bias"] else 0) + h * h + h
                 + h * v["mlp_dim"] + v["mlp_dim"] + v["mlp_dim"] * h + h)
    sides = [grid if i in global_layers or window == 0 else window for i in range(layers)]
    relative = sum(2 * (2 * side - 1) * (h // heads) for side in sides) if v["use_rel_pos"] else 0
    embeddings = v["num_channels"] * patch * patch * h + h + (grid * grid * h
                                                              if v["use_abs_pos"] else 0)
    neck = h * out + 2 * out + out * out * 9 + 2 * out
    return embeddings + layers * per_layer + relative + neck


# GitVisionConfig's defaults (GIT's CLIP ViT-B/16 image encoder)
GIT_VISION = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
              "num_channels": 3, "image_size": 224, "patch_size": 16}


def git_vision(config: Mapping[str, Any] | None) -> int:
    """GitVisionModel (CLIP's ViT): a class embedding, the patch convolution without bias and
    one learned position per patch and for the class token; a LayerNorm before the layers, per
    layer two LayerNorms, q/k/v/out with biases and the biased MLP; a LayerNorm after."""
    v = defaults_under(config or {}, GIT_VISION)
    for key in ("image_size", "patch_size"):
        if not isinstance(v[key], int) or isinstance(v[key], bool):
            raise UnsupportedConfigError(f"git vision_config {key} {v[key]!r}: expected one "
                                         f"integer (the class divides image_size by patch_size)")
    h, inner, layers = v["hidden_size"], v["intermediate_size"], v["num_hidden_layers"]
    positions = (v["image_size"] // v["patch_size"]) ** 2 + 1
    norm = 2 * h
    per_layer = 2 * norm + 4 * (h * h + h) + (h * inner + inner) + (inner * h + h)
    embeddings = h + v["num_channels"] * v["patch_size"] ** 2 * h + positions * h
    return embeddings + norm + layers * per_layer + norm

"""Microsoft's Phi-4-multimodal (phi4_multimodal): Phi-4-mini's decoder with image and audio
embedders inside the causal-LM class.

Phi4MultimodalForCausalLM builds Phi-3's layers (fused qkv and gate_up, RMSNorms, longrope
and partial rotary read as Phi3Config reads them) and, inside its model, an embedder that
replaces image and audio placeholder tokens: a SigLIP vision tower (with its pooling head,
unused but built) and two projections into the text width, two learned separator vectors; and
a Conformer audio encoder (NeMo-style convolutional subsampling, a relative-position bias
table, blocks of a half-step feed-forward, attention, a gated convolution module and a second
half-step feed-forward) with two pairs of projections (speech alone, speech beside an image).
zoo counts the decoder as a Phi-3 and the embedders by closed form, as the rest of the
checkpoint (both in the class's total). The LoRA adapters of the published model (vision and
speech) are PEFT adapters beside the checkpoint, not built by the class, and not counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Config,
    UnsupportedConfigError,
    text_decoder_of,
    with_defaults,
)
from zoo.architectures.counted import counted_entries
from zoo.architectures.phi3 import read as read_phi3
from zoo.architectures.towers import siglip_vision

# Phi4MultimodalConfig's defaults (transformers 5.25) for the keys a config.json may leave out
DEFAULTS = {"vocab_size": 200064, "hidden_size": 3072, "intermediate_size": 8192,
            "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
            "hidden_act": "silu", "max_position_embeddings": 131072,
            "original_max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
            "tie_word_embeddings": False}
# Phi4MultimodalVisionConfig's defaults: a SigLIP tower of 27 layers over 448-pixel images
VISION = {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27,
          "num_channels": 3, "image_size": 448, "patch_size": 14}
# Phi4MultimodalAudioConfig's defaults, for the keys that shape its parameters
AUDIO = {"hidden_size": 1024, "intermediate_size": 1536, "num_blocks": 24,
         "num_attention_heads": 16, "ext_pw_out_channel": 1024,
         "depthwise_separable_out_channel": 1024, "depthwise_multiplier": 1, "kernel_size": 3,
         "input_size": 80, "time_reduction": 8, "bias_max_distance": 1000,
         "bias_symmetric": False, "nemo_conv_channels": 1024, "downsample_rate": 1}


def _ints(c: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        if not isinstance(c[key], int) or isinstance(c[key], bool) or c[key] <= 0:
            raise UnsupportedConfigError(f"phi4_multimodal {where} {key} {c[key]!r}: expected "
                                         f"a positive integer")


def vision_embedder(c: Mapping[str, Any], width: int) -> int:
    """Phi4MultimodalImageEmbedding: the SigLIP tower (pooling head included, as built), the
    up (vision width -> text width) and down (text -> text) projections with biases, and the
    global and sub-image separator vectors (one vision width each)."""
    v = with_defaults(c.get("vision_config") or {}, VISION)
    h = v["hidden_size"]
    tower = siglip_vision({**{k: v[k] for k in VISION}, "vision_use_head": True})
    return tower + (h * width + width) + (width * width + width) + 2 * h


def audio_encoder(a: Mapping[str, Any]) -> int:
    """Phi4MultimodalAudioModel: the subsampling (a 3x3 stride-2 convolution from one channel,
    then per further halving of time_reduction a depthwise 3x3 and a pointwise convolution,
    all biased; a biased linear from channels x the frequencies left to the width), the
    relative-position bias table (bias_max_distance buckets, twice that unless symmetric, one
    value per head), and per block: two feed-forwards (a LayerNorm, a biased gate_up to twice
    intermediate_size, a biased down), biased q/k/v/o (head_dim width / heads), the
    convolution module (a LayerNorm; a biased pointwise GLU to twice ext_pw_out_channel with
    two bias vectors; a depthwise kernel_size convolution (width x depthwise_multiplier
    channels) and a pointwise one to depthwise_separable_out_channel, biased; a biased pointwise
    convolution to ext_pw_out_channel) and two LayerNorms. The mean and inverse deviation of the
    input features are buffers."""
    h, inner, heads = a["hidden_size"], a["intermediate_size"], a["num_attention_heads"]
    d_att = heads * a.get("head_dim", h // heads)
    ext, sep, k = a["ext_pw_out_channel"], a["depthwise_separable_out_channel"], a["kernel_size"]
    dw = h * a["depthwise_multiplier"]
    halvings = a["time_reduction"].bit_length() - 1  # int(log2(time_reduction))
    freq = a["input_size"]
    for _ in range(halvings):
        freq = (freq - 1) // 2 + 1
    ch = a["nemo_conv_channels"]
    subsampling = (9 * ch + ch) + (halvings - 1) * ((9 * ch + ch) + (ch * ch + ch)) \
        + ch * freq * h + h
    buckets = a["bias_max_distance"] * (1 if a["bias_symmetric"] else 2)
    feed_forward = 2 * h + (h * 2 * inner + 2 * inner) + (inner * h + h)
    attention = 3 * (h * d_att + d_att) + (d_att * h + h)
    conv = (2 * h + (h * 2 * ext + 2 * ext) + 2 * ext + (dw * k + dw) + (dw * sep + sep)
            + (h * ext + ext))
    block = 2 * feed_forward + attention + conv + 2 * 2 * h
    return subsampling + buckets * heads + a["num_blocks"] * block


def audio_embedder(c: Mapping[str, Any], width: int) -> int:
    """Phi4MultimodalAudioEmbedding: the encoder and two pairs of biased projections (the
    encoder width x downsample_rate -> the text width, then text -> text), one for speech
    alone and one for speech beside an image."""
    a = with_defaults(c.get("audio_config") or {}, AUDIO)
    _ints(a, tuple(k for k in AUDIO if k != "bias_symmetric"), "audio_config")
    if a["time_reduction"] % 2:
        raise UnsupportedConfigError(f"phi4_multimodal audio_config time_reduction "
                                     f"{a['time_reduction']}: must be a multiple of 2")
    up = a["hidden_size"] * a["downsample_rate"]
    return audio_encoder(a) + 2 * ((up * width + width) + (width * width + width))


def read_phi4_multimodal(config: Mapping[str, Any]) -> Config:
    """The Phi-3 decoder, with the image and audio embedders the class builds beside it counted
    as the rest of the checkpoint. num_key_value_heads left out is 8; set to null it is the
    number of query heads (Phi4MultimodalConfig)."""
    c = dict(config)
    if "num_key_value_heads" in c and c["num_key_value_heads"] is None:
        c["num_key_value_heads"] = c.get("num_attention_heads") \
            or DEFAULTS["num_attention_heads"]
    out = read_phi3(c, DEFAULTS)
    width = out["d_model"]
    rest = vision_embedder(c, width) + audio_embedder(c, width)
    return text_decoder_of(out, "Phi4MultimodalForCausalLM",
                           "image and audio embedders (SigLIP and Conformer towers, with their "
                           "projections; built by the class too)", rest)


# where write_config tries these entries among all (lowest first; see zoo.architectures):
# among the counted-only, none of them writes a config
PRIORITY = 906
ENTRIES = counted_entries({
    "phi4_multimodal": ("Phi4MultimodalForCausalLM", "phi3", read_phi4_multimodal)})

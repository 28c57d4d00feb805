"""Google's Gemma 4 Unified (gemma4_unified_text; gemma4_unified, the encoder-free image-audio-
text model, read for its text decoder; gemma4_unified_assistant, its drafter).

The text decoder is Gemma 4's (transformers' Gemma4UnifiedTextConfig and
modeling_gemma4_unified are the reference): sandwich-normed GeGLU layers, local and global
attention with the global layers' own head width, keys as values and kv heads, the last
num_kv_shared_layers layers reusing earlier keys and values, a value norm and a layer scalar.
What it leaves out is Gemma 4's per-layer inputs and experts: the class takes no
hidden_size_per_layer_input, enable_moe_block or their widths, and published configs that still
carry them (Gemma-4-12B's, hidden_size_per_layer_input 0, enable_moe_block false) build
without them whatever they say, so the reader reads them as transformers does: not at all. Its
defaults differ from Gemma 4's where the class says so (a 1024-token window, 262144
positions, bidirectional attention over vision tokens, which changes no count).

The wrapper has no vision or audio tower: images are raw 48 x 48 pixel patches projected into
the text width (LayerNorm, a dense layer, LayerNorm, a factorised 2D position table, LayerNorm,
a weightless RMSNorm and a projection), audio frames projected by one matrix. Both are counted
here by closed form beside the decoder (rest_params).

The assistant (Gemma4UnifiedAssistantForCausalLM) is a small decoder of the same class that
drafts tokens for the 12B: every layer attends to the target model's keys and values
(num_kv_shared_layers is all of them when the config leaves it 0), so it has no k/v
projections and no cache; its input, the target's embedding and last hidden state side by
side, is projected from 2 x backbone_hidden_size, its output back to backbone_hidden_size
(target_width), and with use_ordered_embeddings its head first scores num_centroids vocabulary
clusters (head_centroids). Either wrapper's head is tied by its own tie_word_embeddings, not
text_config's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Architecture,
    Config,
    UnsupportedConfigError,
    defaults_under,
    get,
    refuse_write,
    text_decoder_of,
)
from zoo.architectures.gemma4 import DEFAULTS as GEMMA4_DEFAULTS
from zoo.architectures.gemma4 import read_gemma4

# transformers' Gemma4UnifiedTextConfig defaults where they differ from Gemma4TextConfig's
DEFAULTS: dict[str, Any] = {
    **GEMMA4_DEFAULTS, "max_position_embeddings": 262144, "sliding_window": 1024,
    "use_bidirectional_attention": "vision",
}
# Gemma 4's keys the unified class does not take (published configs carry them): what the
# built model is without them
NOT_TAKEN = {"hidden_size_per_layer_input": 0, "enable_moe_block": False}
# Gemma4UnifiedVisionConfig's and Gemma4UnifiedAudioConfig's defaults
VISION = {"patch_size": 16, "pooling_kernel_size": 3, "mm_embed_dim": 3840,
          "mm_posemb_size": 1120, "output_proj_dims": 3840}
AUDIO_WIDTH = 640  # audio_embed_dim; hidden_size, output_proj_dims and audio_samples_per_token
# are other names of it
# Gemma4UnifiedAssistantConfig's defaults
ASSISTANT = {"backbone_hidden_size": 3840, "use_ordered_embeddings": False,
             "num_centroids": 2048, "tie_word_embeddings": True}


def read_gemma4_unified(config: Mapping[str, Any]) -> Config:
    return read_gemma4({**config, **NOT_TAKEN}, DEFAULTS)


def _vision_params(vision: Mapping[str, Any], d_model: int) -> int:
    """Gemma4UnifiedVisionEmbedder: LayerNorm (weight and bias) over a merged patch of
    (patch_size x pooling_kernel_size)^2 x 3 pixels, a biased dense layer to mm_embed_dim, a
    LayerNorm, a (mm_posemb_size, 2, mm_embed_dim) position table, a LayerNorm, then the
    multimodal embedder's weightless RMSNorm and output_proj_dims -> d_model projection."""
    v = defaults_under(vision, VISION)
    patch = (v["patch_size"] * v["pooling_kernel_size"]) ** 2 * 3
    if v.get("model_patch_size", v["patch_size"] * v["pooling_kernel_size"]) \
            != v["patch_size"] * v["pooling_kernel_size"]:
        raise UnsupportedConfigError("vision_config model_patch_size is not patch_size x "
                                     "pooling_kernel_size, which transformers refuses")
    width = v["mm_embed_dim"]
    return (2 * patch + patch * width + width + 2 * width + v["mm_posemb_size"] * 2 * width
            + 2 * width + v["output_proj_dims"] * d_model)


def _audio_params(audio: Mapping[str, Any], d_model: int) -> int:
    """The audio embedder: a weightless RMSNorm and an audio_embed_dim -> d_model projection
    (each raw waveform frame of audio_embed_dim samples is a soft token)."""
    names = ("audio_embed_dim", "hidden_size", "output_proj_dims", "audio_samples_per_token")
    widths = {audio[k] for k in names if audio.get(k) is not None}
    if len(widths) > 1:
        raise UnsupportedConfigError(f"audio_config gives {', '.join(names)} different values "
                                     f"({sorted(widths)}); they are one width")
    return (widths.pop() if widths else AUDIO_WIDTH) * d_model


def read_gemma4_unified_multimodal(c: Mapping[str, Any]) -> Config:
    """The text decoder of a Gemma4UnifiedForConditionalGeneration checkpoint, with its vision
    and audio embedders (where their configs are present) counted as the rest."""
    text = read_gemma4_unified(c.get("text_config") or {})
    text["tie_embeddings"] = bool(c.get("tie_word_embeddings", True))
    d = text["d_model"]
    rest = sum(count(sub, d) for key, count in (("vision_config", _vision_params),
                                                ("audio_config", _audio_params))
               if isinstance(sub := c.get(key), Mapping))
    return text_decoder_of(text, "Gemma4UnifiedForConditionalGeneration",
                           "vision and audio embedders", rest)


def read_gemma4_unified_assistant(config: Mapping[str, Any]) -> Config:
    c = {**ASSISTANT, **config}
    text_config = dict(c.get("text_config") or {})
    layers = text_config.get("num_hidden_layers", DEFAULTS["num_hidden_layers"])
    if not text_config.get("num_kv_shared_layers"):  # as the class's __post_init__ sets it
        text_config["num_kv_shared_layers"] = layers
    # every layer may attend to the target's keys and values: read_gemma4 refuses that for a
    # decoder alone, so it reads one layer fewer shared and the count follows here
    all_shared = text_config["num_kv_shared_layers"] == layers
    if all_shared:
        text_config["num_kv_shared_layers"] = 0
    out = read_gemma4_unified(text_config)
    if all_shared:
        out["kv_shared_layers"] = layers
        out["double_wide_shared_mlp"] = bool(text_config.get("use_double_wide_mlp", False))
    out["tie_embeddings"] = bool(c["tie_word_embeddings"])
    out["target_width"] = get(c, "backbone_hidden_size")
    if c["use_ordered_embeddings"]:
        out["head_centroids"] = get(c, "num_centroids")
    return out


# where write_config tries these entries among all (lowest first): after every built one;
# none of them writes a config
PRIORITY = 936
ENTRIES = (
    Architecture(model_type="gemma4_unified_text", hf_class="Gemma4UnifiedForCausalLM",
                 read=read_gemma4_unified, write=refuse_write, tensors={}, prefix="model.",
                 nearest="gemma4_text"),
    Architecture(model_type="gemma4_unified", hf_class="Gemma4UnifiedForConditionalGeneration",
                 read=read_gemma4_unified_multimodal, write=refuse_write, tensors={},
                 prefix="model.language_model.", nearest="gemma4"),
    Architecture(model_type="gemma4_unified_assistant",
                 hf_class="Gemma4UnifiedAssistantForCausalLM",
                 read=read_gemma4_unified_assistant, write=refuse_write, tensors={},
                 prefix="model.", nearest="gemma4_text"),
)

"""Image-text wrappers whose causal-LM class builds the text decoder alone: Mllama (Llama 3.2
Vision 11B/90B: Llama layers with gated cross-attention layers interleaved, which read the
image's states) and Emu3 (BAAI: a Llama decoder over text and VQ image tokens). transformers'
AutoModelForCausalLM builds MllamaForCausalLM and Emu3ForCausalLM from the wrapper's
text_config; zoo counts that decoder, saying what the rest of the checkpoint is (Mllama's
vision tower and projector with their closed form; Emu3's VQ-VAE image tokenizer is not
counted). A config without text_config is read as the text config itself (the causal-LM
class's own config class: MllamaTextConfig, Emu3TextConfig; BAAI's remote-code Emu3
config.json is of that shape)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import (
    Config,
    UnsupportedConfigError,
    counted_only,
    shortest_period,
    text_decoder_of,
    with_defaults,
)
from zoo.architectures.counted import counted_entries
from zoo.architectures.llama import read_llama_like

# MllamaTextConfig's defaults (transformers 5.25) for the keys read here
MLLAMA_TEXT = {"vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
               "num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 8,
               "max_position_embeddings": 131072, "hidden_act": "silu", "rms_norm_eps": 1e-5,
               "rope_theta": 500000.0,
               "cross_attention_layers": [3, 8, 13, 18, 23, 28, 33, 38]}
# MllamaTextModel's embedding has 8 rows beyond the vocabulary (the head predicts none of them)
MLLAMA_EXTRA_ROWS = 8
# MllamaVisionConfig's defaults
MLLAMA_VISION = {"hidden_size": 1280, "num_hidden_layers": 32, "num_global_layers": 8,
                 "num_channels": 3, "intermediate_size": 5120, "vision_output_dim": 7680,
                 "image_size": 448, "patch_size": 14, "max_num_tiles": 4,
                 "supported_aspect_ratios": [[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2],
                                             [3, 1], [4, 1]]}
# Emu3TextConfig's defaults
EMU3_TEXT = {"vocab_size": 184622, "hidden_size": 4096, "intermediate_size": 14336,
             "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
             "max_position_embeddings": 9216, "hidden_act": "silu", "rms_norm_eps": 1e-5,
             "rope_theta": 1000000.0, "attention_bias": False, "mlp_bias": False,
             "tie_word_embeddings": False}


def _text(c: Mapping[str, Any]) -> Mapping[str, Any]:
    text = c.get("text_config", c)
    if not isinstance(text, Mapping):
        raise UnsupportedConfigError(f"text_config {text!r}: expected a mapping")
    return text


def read_mllama_text(c: Mapping[str, Any]) -> Config:
    """MllamaForCausalLM: Llama's layers (no biases, whatever attention_bias says; head_dim
    always hidden_size / heads, whatever head_dim says; the head never tied, whatever
    tie_word_embeddings says), the layers at cross_attention_layers replaced by
    cross-attention blocks (q, k, v, o, q and k norms per head, two tanh gates, the same MLP),
    and an embedding of vocab_size + 8 rows."""
    c = with_defaults(c, MLLAMA_TEXT)
    d, heads = c["hidden_size"], c["num_attention_heads"]
    out = read_llama_like(c, MLLAMA_TEXT, d_head=d // heads, qkv_bias=False,
                          attn_out_bias=False, mlp_bias=False, tie_embeddings=False)
    layers = c.get("cross_attention_layers")
    if layers is None:  # null: the class's default list
        layers = MLLAMA_TEXT["cross_attention_layers"]
    if not isinstance(layers, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                               for i in layers):
        raise UnsupportedConfigError(f"mllama cross_attention_layers {layers!r}: expected a "
                                     f"list of layer indices")
    cross = set(layers)  # transformers asks `i in cross_attention_layers`: others are ignored
    kinds = ["cross" if i in cross else "global" for i in range(out["n_layer"])]
    out.update(attention_pattern=shortest_period(kinds), extra_embedding_rows=MLLAMA_EXTRA_ROWS)
    if "cross" in kinds:
        counted_only(out, "cross-attention layers (over the image's states) are not built; "
                          "they cache the image's keys and values once per image, which the "
                          "KV figure per token leaves out")
    return out


def mllama_vision_params(c: Mapping[str, Any]) -> int:
    """MllamaVisionModel and the projector (multi_modal_projector: vision_output_dim -> the
    text width, with bias): the patch convolution (no bias), the class embedding, the gated
    position embedding (one per patch and the class token, and a per-tile table of
    (aspect ratios + 1) x tiles x patches x width, and its gate), the gated pre- and post-tile
    embeddings ((aspect ratios + 1) x tiles x width each, and a gate each), pre and post
    LayerNorms (with bias), the local layers (q/k/v/o without bias, a biased GELU MLP, two
    LayerNorms) and the global layers (the same, with two gates each)."""
    v = with_defaults({k: val for k, val in (c.get("vision_config") or {}).items()
                       if val is not None}, MLLAMA_VISION)
    text = with_defaults(dict(_text(c)), MLLAMA_TEXT)
    h, inner = v["hidden_size"], v["intermediate_size"]
    image, patch = v["image_size"], v["patch_size"]
    if not isinstance(image, int) or not isinstance(patch, int):
        raise UnsupportedConfigError("mllama vision_config image_size and patch_size: zoo "
                                     "counts square images (one integer each)")
    positions = (image // patch) ** 2 + 1
    ratios, tiles = len(v["supported_aspect_ratios"]) + 1, v["max_num_tiles"]
    embeddings = (v["num_channels"] * patch * patch * h + h + positions * h + 1
                  + ratios * tiles * positions * h + 2 * (ratios * tiles * h + 1))
    layer = 4 * h * h + (h * inner + inner) + (inner * h + h) + 2 * 2 * h
    layers = v["num_hidden_layers"] * layer + v["num_global_layers"] * (layer + 2)
    projector = v["vision_output_dim"] * text["hidden_size"] + text["hidden_size"]
    return embeddings + 2 * 2 * h + layers + projector


def read_mllama(c: Mapping[str, Any]) -> Config:
    out = read_mllama_text(_text(c))
    if "text_config" not in c:
        return out
    return text_decoder_of(out, "MllamaForConditionalGeneration",
                           "vision tower and projector", mllama_vision_params(c))


def read_emu3(c: Mapping[str, Any]) -> Config:
    """Emu3ForCausalLM: LLaMA's decoder (attention_bias, mlp_bias and head_dim read as
    LlamaConfig reads them) over a vocabulary of text and image tokens; the wrapper's
    top-level tie_word_embeddings is not the decoder's."""
    out = read_llama_like(with_defaults(_text(c), EMU3_TEXT), EMU3_TEXT)
    if "text_config" not in c:
        return out
    return text_decoder_of(out, "Emu3ForConditionalGeneration",
                           "VQ-VAE image tokenizer (vq_config, not counted by zoo)")


# where write_config tries these entries among all (lowest first; see zoo.architectures):
# among the counted-only, none of them writes a config
PRIORITY = 905
ENTRIES = counted_entries({"mllama": ("MllamaForCausalLM", "llama", read_mllama),
                           "emu3": ("Emu3ForCausalLM", "llama", read_emu3)})

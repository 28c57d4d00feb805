"""Kyutai's Moshi (model_type moshi, MoshiForCausalLM: its text decoder, the "Temporal
Transformer"), counted exactly, not built.

MoshiForCausalLM builds the text decoder alone: a LLaMA-shaped stack (RMSNorm before attention
and MLP, rotary multi-head attention with num_key_value_heads of head_dim, no biases, a final
RMSNorm) whose gated MLP is one fc1 of hidden_size -> ffn_dim, split in halves (silu of the
first times the second), and fc2 of ffn_dim / 2 -> hidden_size: SwiGLU with d_ff = ffn_dim / 2.
The token embedding has vocab_size + 1 rows (the extra one for the text padding token, which
the head never predicts); the head is its own vocab_size x hidden_size matrix, never tied (the
class ties nothing, whatever tie_word_embeddings says). The depth decoder, the audio
embeddings and the Mimi codec are MoshiForConditionalGeneration's, not this class's: neither
depth_decoder_config, audio_encoder_config, audio_vocab_size nor num_codebooks changes the
count. Each layer's cache is transformers' sliding-window cache of sliding_window tokens
(its mask is full causal within a prefill; sliding_window defaults to the 3000-token context).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import Config, UnsupportedConfigError, get, with_defaults
from zoo.architectures.counted import Reader, counted_entries
from zoo.architectures.llama import read_llama_like

# transformers' MoshiConfig class defaults (5.25), for every key read below
# (num_key_value_heads and head_dim derived: the query heads, hidden_size / heads)
DEFAULTS: Config = {
    "vocab_size": 32000, "hidden_size": 4096, "num_hidden_layers": 32,
    "num_attention_heads": 32, "max_position_embeddings": 3000, "hidden_act": "silu",
    "sliding_window": 3000, "ffn_dim": 22528, "rms_norm_eps": 1e-8,
}


def read_moshi(c: Mapping[str, Any]) -> Config:
    """Moshi's text decoder: LLaMA's reading with d_ff half of ffn_dim (an odd ffn_dim, which
    transformers refuses too, refused by name), one more embedding row than the vocabulary,
    no biases, an untied head and local layers of sliding_window."""
    c = with_defaults(c, DEFAULTS)
    ffn = get(c, "ffn_dim")
    if ffn % 2:
        raise UnsupportedConfigError(f"moshi: ffn_dim {ffn} is odd; its gated MLP splits fc1's "
                                     f"ffn_dim outputs in two halves (an even number expected)")
    out = read_llama_like({**c, "intermediate_size": ffn // 2}, DEFAULTS, qkv_bias=False,
                          attn_out_bias=False, mlp_bias=False, tie_embeddings=False,
                          extra_embedding_rows=1)
    window = c.get("sliding_window")
    if window is not None:
        out.update(attention_pattern=["local"], local_window=window)
    return out


# counted, not built: model_type -> (class, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, Reader]] = {
    "moshi": ("MoshiForCausalLM", "mistral", read_moshi),
}

# where write_config tries these entries among all (lowest first): after every built one;
# none of them writes a config
PRIORITY = 942
ENTRIES = counted_entries(COUNTED)

"""OpenBMB's CPM-Ant (model_type cpmant, CpmAntForCausalLM: cpm-ant-10b), counted exactly,
not built.

Pre-norm layers of multi-head attention (num_attention_heads of dim_head, no biases) and a
gated GELU MLP (w_0, w_1: hidden_size -> dim_ff, w_out back) under weight-only RMSNorms, a final
one. No rotary: one relative position bias table shared by all layers, position_bias_num_buckets
rows for the query-key distance's bucket plus segment_types^2 for each query and key segment
pair, a bias per head; a segment embedding (segment_types x hidden_size) added to the tokens.
The token embedding has prompt_types x prompt_length rows beyond vocab_size (the prompt tokens
each sequence begins with, cached beside its own); the head is its own vocab_size x
hidden_size matrix, never tied (the class ties nothing, whatever tie_word_embeddings says).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.architectures.base import Config, get, with_defaults
from zoo.architectures.counted import Reader, counted_entries

# transformers' CpmAntConfig class defaults (5.25), for every key read below
DEFAULTS: Config = {
    "vocab_size": 30720, "hidden_size": 4096, "num_attention_heads": 32, "dim_head": 128,
    "dim_ff": 10240, "num_hidden_layers": 48, "position_bias_num_buckets": 512,
    "position_bias_max_distance": 2048, "eps": 1e-6, "prompt_types": 32, "prompt_length": 32,
    "segment_types": 32,
}


def read_cpmant(c: Mapping[str, Any]) -> Config:
    """CPM-Ant's fields (the context is position_bias_max_distance, the farthest distance its
    buckets tell apart)."""
    c = with_defaults(c, DEFAULTS)
    heads = get(c, "num_attention_heads")
    return dict(
        n_layer=get(c, "num_hidden_layers"), d_model=get(c, "hidden_size"), n_head=heads,
        n_kv_head=heads, d_head=get(c, "dim_head"), d_ff=get(c, "dim_ff"),
        vocab_size=get(c, "vocab_size"), context_length=get(c, "position_bias_max_distance"),
        norm="rmsnorm", norm_eps=get(c, "eps"), activation="geglu", bias=False,
        tie_embeddings=False, position="none",
        extra_embedding_rows=get(c, "prompt_types") * get(c, "prompt_length"),
        segment_types=get(c, "segment_types"),
        relative_bias_buckets=get(c, "position_bias_num_buckets"),
        cached_prefix=get(c, "prompt_length"),
        notes=["its MLP's gate is exact GELU, counted as a gated MLP's two matrices"])


# counted, not built: model_type -> (class, nearest built model_type, reader)
COUNTED: dict[str, tuple[str, str, Reader]] = {
    "cpmant": ("CpmAntForCausalLM", "llama", read_cpmant),
}

# where write_config tries these entries among all (lowest first): after every built one;
# none of them writes a config
PRIORITY = 941
ENTRIES = counted_entries(COUNTED)

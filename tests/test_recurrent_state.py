"""The recurrent state zoo counts per sequence against the cache transformers keeps.

A tiny model of each counted-only recurrent or hybrid type runs one prompt through transformers
with its cache on; the state-space layers' cache holds the scan state and the convolution's
input (kernel columns, the newest included, where zoo counts the kernel - 1 earlier ones it
needs), the attention layers' keys and values for every token. zoo's figures, from the same
config with no torch, must match both.
"""

from __future__ import annotations

import json

import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

import zoo  # noqa: E402
from zoo.architectures import spec_from_config  # noqa: E402

TINY = {
    "mamba": dict(hidden_size=32, num_hidden_layers=2, vocab_size=64, state_size=8),
    "mamba2": dict(hidden_size=32, num_hidden_layers=2, vocab_size=64, state_size=8,
                   num_heads=8, head_dim=8, n_groups=2),
    "bamba": dict(hidden_size=32, num_hidden_layers=2, vocab_size=64, intermediate_size=48,
                  num_attention_heads=4, num_key_value_heads=2, attn_layer_indices=[1],
                  mamba_n_heads=4, mamba_d_state=8, mamba_n_groups=2),
    "nemotron_h": dict(hidden_size=32, vocab_size=64, intermediate_size=48,
                       layers_block_type=["linear_attention", "full_attention", "mlp", "moe"],
                       num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                       mamba_num_heads=4, mamba_head_dim=16, n_groups=2, ssm_state_size=8,
                       n_routed_experts=4, moe_intermediate_size=16,
                       moe_shared_expert_intermediate_size=16),
    "lfm2": dict(hidden_size=32, vocab_size=64, intermediate_size=48, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2,
                 layer_types=["conv", "full_attention"]),
    "lfm3": dict(hidden_size=32, vocab_size=64, intermediate_size=48, num_hidden_layers=3,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=8, pad_token_id=0,
                 bos_token_id=1, eos_token_id=2,
                 layer_types=["conv", "full_attention", "full_attention"]),
    "falcon_h1": dict(hidden_size=32, vocab_size=64, intermediate_size=48, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, mamba_d_ssm=64,
                      mamba_n_heads=4, mamba_d_state=8, mamba_n_groups=2, mamba_rms_norm=True),
    "olmo_hybrid": dict(hidden_size=32, vocab_size=64, intermediate_size=48, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, pad_token_id=0,
                        layer_types=["linear_attention", "full_attention"]),
    "minimax": dict(hidden_size=32, vocab_size=64, intermediate_size=48, num_hidden_layers=3,
                    num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                    num_local_experts=4, block_size=4,
                    layer_types=["linear_attention", "full_attention", "linear_attention"]),
    "xlstm": dict(hidden_size=128, vocab_size=64, num_hidden_layers=2, num_heads=4,
                  chunk_size=4, max_inference_chunksize=4),
    # shared blocks: keys of their own per invocation (Zamba2's two blocks run three times, one
    # of them twice), the Mamba layers' state on every layer
    "zamba": dict(hidden_size=32, vocab_size=64, intermediate_size=48, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=2, mamba_d_state=8,
                  n_mamba_heads=2,
                  layers_block_type=["mamba", "hybrid", "mamba", "hybrid"]),
    "zamba2": dict(hidden_size=32, vocab_size=64, num_hidden_layers=4, num_attention_heads=4,
                   num_key_value_heads=4, mamba_d_state=8, n_mamba_heads=4, mamba_ngroups=2,
                   num_mem_blocks=2, use_shared_attention_adapter=True, adapter_rank=4,
                   layers_block_type=["linear_attention", "hybrid", "hybrid", "hybrid"]),
    # the latent attention caches its latent and shared key: 8 + 4 a token
    "kimi_linear": dict(hidden_size=32, vocab_size=64, intermediate_size=48,
                        moe_intermediate_size=16, num_hidden_layers=3, num_attention_heads=4,
                        num_key_value_heads=4, kv_lora_rank=8, qk_rope_head_dim=4,
                        qk_nope_head_dim=8, v_head_dim=8, num_local_experts=4,
                        num_experts_per_tok=2, linear_num_heads=2, linear_head_dim=8,
                        pad_token_id=0, bos_token_id=1, eos_token_id=2,
                        layer_types=["linear_attention", "full_attention", "linear_attention"]),
    # Ling 3: kda layers (4 heads of 8, full-rank gates) beside gated latent attention caching
    # its 8-wide latent and 4-wide rotated key a token; a dense layer, then experts
    "bailing_hybrid": dict(hidden_size=32, vocab_size=64, intermediate_size=48,
                           moe_intermediate_size=16, num_hidden_layers=3, num_attention_heads=4,
                           num_key_value_heads=4, kv_lora_rank=8, qk_rope_head_dim=4,
                           qk_nope_head_dim=8, v_head_dim=8, head_dim=8, num_local_experts=4,
                           num_experts_per_tok=2, n_group=2, topk_group=1,
                           first_k_dense_replace=1, pad_token_id=0, eos_token_id=2,
                           layer_types=["linear_attention", "full_attention",
                                        "linear_attention"]),
    # Gated DeltaNet layers beside a sliding (rotary) and a full (NoPE) attention layer, each
    # with 2 kv heads of 8; the shared expert's width apart from the experts'
    "lara_mini": dict(hidden_size=32, vocab_size=64, num_hidden_layers=4, num_attention_heads=4,
                      num_key_value_heads=2, head_dim=8, moe_intermediate_size=16,
                      shared_expert_intermediate_size=24, num_experts=4, num_experts_per_tok=2,
                      linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=8,
                      linear_value_head_dim=12,
                      layer_types=["linear_attention", "sliding_attention", "linear_attention",
                                   "full_attention"]),
    # CCA on a sliding and a full layer: beside 2 kv heads of 8, the convolutions' last
    # (3 - 1) + (2 - 1) inputs of the 48 q/k channels and 8 delayed values
    "zaya": dict(hidden_size=32, vocab_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=8, moe_intermediate_size=16, num_experts=4,
                 router_hidden_size=12, cca_time0=3, cca_time1=2, sliding_window=16,
                 layer_types=["hybrid_sliding", "hybrid"]),
}
# types whose cache keeps just the convolution inputs the next token reads, which zoo counts
# whole (Zaya's CCA passes (cca_time0 - 1) + (cca_time1 - 1) as the kernel size), where the
# others keep the newest beside them
CONV_INPUTS_ONLY = {"zaya"}
# attention alone, with keys beyond the heads' own: the same cache held to zoo's KV figure
KEYS_ONLY = {
    # no recurrent state: MiniMax-M3's sparse layers cache the indexer's one 8-wide key a token
    # beside their 2 kv heads of 8 (its full-attention layer the heads alone)
    "minimax_m3_vl_text": dict(hidden_size=32, vocab_size=64, intermediate_size=16,
                               dense_intermediate_size=48, shared_intermediate_size=24,
                               num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                               head_dim=8, num_local_experts=4, num_experts_per_tok=2,
                               index_n_heads=2, index_head_dim=8, index_block_size=2,
                               index_topk_blocks=2, mlp_layer_types=["dense", "sparse", "sparse"],
                               layer_types=["full_attention", "minimax_m3_sparse",
                                            "minimax_m3_sparse"]),
    # A.X K2's latent attention caches its 8-wide latent and 4-wide shared key a token, and its
    # indexer's 8-wide key beside them; A.X K1's the latent and shared key alone
    "axk2": dict(hidden_size=32, vocab_size=64, intermediate_size=48, moe_intermediate_size=16,
                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                 kv_lora_rank=8, q_lora_rank=12, qk_rope_head_dim=4, qk_nope_head_dim=8,
                 v_head_dim=8, n_routed_experts=4, num_experts_per_tok=2, index_n_heads=2,
                 index_head_dim=8, gated_norm_rank=4),
    "axk1": dict(hidden_size=32, vocab_size=64, intermediate_size=48, moe_intermediate_size=16,
                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                 kv_lora_rank=8, q_lora_rank=12, qk_rope_head_dim=4, qk_nope_head_dim=8,
                 v_head_dim=8, n_routed_experts=4, num_experts_per_tok=2, n_group=2,
                 topk_group=1),
    # HY-V4's latent 8 + 4 a token on every layer, the indexer's 8-wide key on the two layers
    # with an indexer of their own (the shared ones reuse the first's choice, caching none)
    "hy_v4": dict(hidden_size=32, vocab_size=64, intermediate_size=48, moe_intermediate_size=16,
                  num_hidden_layers=4, num_attention_heads=4, q_lora_rank=12, kv_lora_rank=8,
                  qk_rope_head_dim=4, qk_nope_head_dim=8, v_head_dim=8, n_routed_experts=4,
                  num_experts_per_tok=2, index_n_heads=2, index_head_dim=8, index_topk=2,
                  hc_mult=2, pad_token_id=0, indexer_types=["full", "shared", "full", "shared"]),
    # GLM-5's latent 8 + 4 a token on every layer, the indexer's 8-wide key on the first and
    # third layers only (the others reuse the last full layer's choice)
    "glm_moe_dsa": dict(hidden_size=32, vocab_size=64, intermediate_size=48,
                        moe_intermediate_size=16, num_hidden_layers=4, num_attention_heads=4,
                        q_lora_rank=12, kv_lora_rank=8, qk_rope_head_dim=4, qk_nope_head_dim=8,
                        v_head_dim=8, n_routed_experts=4, num_experts_per_tok=2,
                        index_n_heads=2, index_head_dim=8, index_topk=2,
                        first_k_dense_replace=1,
                        indexer_types=["full", "shared", "full", "shared"]),
    # Kolibri 1.1: two sliding and two indexed layers (2 kv heads of 16 each), the second
    # indexed one attending to the first's keys and values and caching none of its own
    "kolibri1_1": dict(hidden_size=32, vocab_size=64, num_hidden_layers=4, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=16, moe_intermediate_size=16,
                       shared_expert_intermediate_size=24, num_experts=4, num_experts_per_tok=2,
                       mlp_only_layers=[0], mlp_only_intermediate_size=48, index_num_heads=2,
                       sliding_window=16, kv_source_layers=[0, 1, 2, 1],
                       layer_types=["sliding_attention", "indexed_attention",
                                    "sliding_attention", "indexed_attention"]),
}


def _cache_elements(cache, inputs_only: bool = False) -> tuple[int, int]:
    """(state elements kept whatever the length, key and value elements per token);
    `inputs_only`: the convolutions' cache holds only the inputs zoo counts."""
    state = per_token = 0
    for layer in getattr(cache, "layers", []):
        conv = getattr(layer, "conv_states", None)
        if conv is not None:
            for tensor in conv.values():
                if tensor is not None:  # zoo: the kernel - 1 inputs before the newest
                    state += tensor.numel() if inputs_only else tensor[..., 1:].numel()
            state += sum(t.numel() for t in layer.recurrent_states.values() if t is not None)
        keys = getattr(layer, "keys", None)
        if keys is not None and keys.numel():
            per_token += (keys.numel() + layer.values.numel()) // keys.shape[-2]
        # a sparse-attention indexer's keys (MiniMax-M3's idx_keys; the indexed layers'
        # indexer_keys: DeepSeek-V3.2's, A.X K2's and HY-V4's, none on a layer that reuses
        # another's choice)
        for name in ("idx_keys", "indexer_keys"):
            index = getattr(layer, name, None)
            if index is not None and index.numel():
                per_token += index.numel() // index.shape[-2]
    return state, per_token


# looped layers (weights counted once) that cache keys per run: Dory's recurrent section (the
# second and third layers, one sliding and one full) run three times, each loop with keys of its
# own; HRM-Text's low-level stack run H_cycles x L_cycles times, its high-level one H_cycles
LOOPED = {
    "dory": dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=4,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=8, n_input_layers=1,
                 n_output_layers=1, n_recurrent_loops=3, sliding_window=16,
                 layer_types=["sliding_attention", "sliding_attention", "full_attention",
                              "full_attention"]),
    "hrm_text": dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                     num_attention_heads=4, head_dim=8, H_cycles=2, L_cycles=3),
}
KEYS_ONLY.update(LOOPED)
# ModernBERT's decoder: full, sliding, sliding, full layers, the window (local_attention / 2
# = 8) wider than the prompt
KEYS_ONLY["modernbert-decoder"] = dict(
    vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=4,
    num_attention_heads=4, local_attention=16, pad_token_id=0)
# Inkling's short convolutions keep state beside the keys (of the keys, the values and both
# sublayer outputs; the loop's per pass); windows wider than the prompt, so that the sliding
# layers keep every key, as zoo counts them
INKLING = dict(vocab_size=128, hidden_size=32, intermediate_size=48, moe_intermediate_size=16,
               num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
               swa_num_attention_heads=4, swa_num_key_value_heads=1, swa_head_dim=8,
               sliding_window_size=16, rel_extent=16, d_rel=4, conv_kernel_size=3,
               num_experts=4, num_experts_per_tok=2)
TINY.update({
    "inkling_text": {**INKLING, "mlp_layer_types": ["dense", "sparse"] * 3},
    "inkling2_text": {**INKLING, "unpadded_vocab_size": 120, "n_layers_per_attn_res_block": 2},
    "inkling2_loop_text": {**INKLING, "unpadded_vocab_size": 120,
                           "n_layers_per_attn_res_block": 2, "loop_layer_index_start": 2,
                           "loop_layer_index_end": 4, "loop_num_passes": 2,
                           "loop_gate_rank": 8},
})


def _cached(config) -> tuple:
    """A tiny transformers model of `config` run on five tokens with its cache on: the model,
    its cache, and zoo's count of the same config (as a config.json writes it)."""
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        cache = model(torch.tensor([[1, 2, 3, 4, 5]]), use_cache=True).past_key_values
    written = json.loads(json.dumps(config.to_dict(), default=str))
    return model, cache, zoo.count_params(spec_from_config(written))


@pytest.mark.parametrize("model_type", {**TINY, **KEYS_ONLY})
def test_state_per_sequence_matches_transformers_cache(model_type):
    transformers.logging.set_verbosity_error()
    config = transformers.CONFIG_MAPPING[model_type](**{**TINY, **KEYS_ONLY}[model_type])
    model, cache, count = _cached(config)
    state, per_token = _cache_elements(cache, model_type in CONV_INPUTS_ONLY)
    # MiniMax keeps each lightning layer's key-value matrices in a list of its own, xLSTM
    # each layer's memory, normaliser and stabiliser in a dict
    state += sum(t.numel() for t in getattr(cache, "linear_cache", []) if len(t))
    state += sum(t.numel() for layer in getattr(cache, "rnn_state", {}).values() for t in layer)
    assert count.total == sum(p.numel() for p in model.parameters())
    assert count.recurrent_state_bytes("fp32") == 4 * state
    assert count.kv_cache_bytes(1, "fp32") == 4 * per_token


def test_recurrent_gemma_state_matches_its_blocks():
    """RecurrentGemma keeps its state in the blocks themselves: each recurrent block's last
    kernel - 1 convolution inputs and its RG-LRU state (one value per channel)."""
    transformers.logging.set_verbosity_error()
    config = transformers.RecurrentGemmaConfig(
        hidden_size=32, num_hidden_layers=3, vocab_size=64, intermediate_size=96,
        num_attention_heads=4, lru_width=48, attention_window_size=16)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        model(torch.tensor([[1, 2, 3, 4, 5]]), use_cache=True)
    state = 0
    for layer in model.model.layers:
        block = layer.temporal_block
        if hasattr(block, "rg_lru"):
            state += block.conv1d_state.numel() + block.rg_lru.recurrent_states.numel()
    count = zoo.count_params(spec_from_config(json.loads(json.dumps(config.to_dict(),
                                                                    default=str))))
    assert count.total == sum(p.numel() for p in model.parameters())
    assert count.recurrent_state_bytes("fp32") == 4 * state == 4 * 2 * 48 * 4


def test_rwkv_state_matches_its_output_state():
    """RWKV returns its state: per layer the last input of the time mix and of the channel mix
    (hidden_size each) and the WKV numerator, denominator and maximum (attention_hidden_size
    each; transformers' forward allocates them all at hidden_size, so the two are equal here)."""
    transformers.logging.set_verbosity_error()
    config = transformers.RwkvConfig(hidden_size=32, num_hidden_layers=2, vocab_size=64,
                                      intermediate_size=64)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        state = model(torch.tensor([[1, 2, 3, 4, 5]]), use_cache=True).state
    count = zoo.count_params(spec_from_config(json.loads(json.dumps(config.to_dict(),
                                                                    default=str))))
    assert count.total == sum(p.numel() for p in model.parameters())
    assert count.recurrent_state_bytes("fp32") == 4 * sum(t.numel() for t in state) \
        == 4 * 2 * (2 * 32 + 3 * 32)


@pytest.mark.parametrize(("model_type", "config"), [
    # Granite 4.0-H's published configs name their layers "mamba" and "attention"
    ("granitemoehybrid", dict(hidden_size=32, num_hidden_layers=3, vocab_size=64,
                              intermediate_size=16, shared_intermediate_size=48,
                              num_attention_heads=4, num_key_value_heads=2, mamba_n_heads=4,
                              mamba_d_state=8, num_local_experts=4,
                              layer_types=["mamba", "attention", "mamba"])),
    ("nemotron_h", dict(hidden_size=32, vocab_size=64, intermediate_size=48,
                        layers_block_type=["mamba", "attention", "mlp"],
                        num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                        mamba_num_heads=4, mamba_head_dim=16, n_groups=2, ssm_state_size=8)),
])
def test_legacy_layer_type_names_are_read_as_transformers_renames_them(model_type, config):
    transformers.logging.set_verbosity_error()
    built = transformers.CONFIG_MAPPING[model_type](**config)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(built)
    spec = spec_from_config({"model_type": model_type, **config})
    assert zoo.count_params(spec).total == sum(p.numel() for p in model.parameters())
    assert "global" in spec.layer_kinds


def test_show_names_every_mixer_kind():
    from zoo.report import MIXER_NAMES, STATE_NAMES
    from zoo.spec.vocabulary import ATTENTION_KINDS, RECURRENT_KINDS

    assert set(MIXER_NAMES) == set(ATTENTION_KINDS)
    assert set(STATE_NAMES) == set(RECURRENT_KINDS)


@pytest.mark.parametrize("model_type", TINY)
def test_show_gives_the_state_of_each_type(model_type, tmp_path, capsys):
    from zoo.cli import main

    config = transformers.CONFIG_MAPPING[model_type](**TINY[model_type])
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict(), default=str))
    assert main(["show", str(tmp_path / "config.json")]) == 0
    out = capsys.readouterr().out
    assert "recurrent state" in out and "counted" in out


def test_gemma3n_caches_no_keys_for_the_layers_that_share_them():
    """Gemma 3n keeps no recurrent state; its last num_kv_shared_layers layers (here a sliding
    and the global one) attend to the keys and values of the last earlier layer of their kind
    and cache none of their own: transformers' cache holds three layers' keys and values."""
    transformers.logging.set_verbosity_error()
    config = transformers.Gemma3nTextConfig(
        hidden_size=32, vocab_size=64, intermediate_size=48, num_hidden_layers=5,
        num_kv_shared_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
        hidden_size_per_layer_input=8, vocab_size_per_layer_input=64, laurel_rank=4,
        layer_types=["sliding_attention", "full_attention", "sliding_attention",
                     "sliding_attention", "full_attention"])
    model, cache, count = _cached(config)
    state, per_token = _cache_elements(cache)
    assert count.total == sum(p.numel() for p in model.parameters())
    assert state == count.recurrent_state_bytes("fp32") == 0
    assert count.kv_cache_bytes(1, "fp32") == 4 * per_token == 4 * 3 * 2 * 2 * 8


def test_dory_last_loop_caches_the_recurrent_layers_once():
    """With recurrent_kv_cache_mode last_loop, the loops before the last read the recurrent
    layers' cache without writing it: transformers' cache holds each of the four layers' keys
    and values once (its read-only views of them hold none), as zoo counts."""
    transformers.logging.set_verbosity_error()
    config = transformers.DoryConfig(**{**LOOPED["dory"], "recurrent_kv_cache_mode": "last_loop"})
    model, cache, count = _cached(config)
    _, per_token = _cache_elements(cache)
    assert count.total == sum(p.numel() for p in model.parameters())
    assert count.kv_cache_bytes(1, "fp32") == 4 * per_token == 4 * 4 * 2 * 2 * 8


def test_cpmant_caches_its_prompt_tokens_before_each_sequence():
    """CPM-Ant prepends prompt_length prompt tokens to every sequence, and its cache holds their
    keys and values beside the sequence's own: 5 + 6 positions of 4 heads of 8 on 3 layers."""
    transformers.logging.set_verbosity_error()
    config = transformers.CpmAntConfig(
        vocab_size=64, hidden_size=32, num_attention_heads=4, dim_head=8, dim_ff=48,
        num_hidden_layers=3, position_bias_num_buckets=16, segment_types=3, prompt_types=3,
        prompt_length=6)
    model, cache, count = _cached(config)
    held = sum(layer.keys.numel() + layer.values.numel() for layer in cache.layers)
    assert count.total == sum(p.numel() for p in model.parameters())
    assert count.kv_cache_bytes(5, "fp32") == 4 * held == 4 * 3 * 2 * (5 + 6) * 4 * 8
    assert count.kv_cache_bytes_per_token("fp32") == 4 * 3 * 2 * 4 * 8

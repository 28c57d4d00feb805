"""Counting from tensor headers, without files: names placed by the pattern table, packed and
quantized tensors, and the check against a closed form."""

from __future__ import annotations

import pytest

from zoo.accounting import count_params
from zoo.accounting.headers import (
    HEADER_COMPONENTS,
    HeadersRefused,
    TensorInfo,
    check_headers,
    classify,
    count_headers,
    layer_of,
)
from zoo.registry import get_spec

NAMES = {
    # Hugging Face
    "model.embed_tokens.weight": "token_embedding",
    "transformer.wte.weight": "token_embedding",
    "transformer.wpe.weight": "position_embedding",
    "gpt_neox.embed_in.weight": "token_embedding",
    "embed_out.weight": "head",
    "lm_head.weight": "head",
    "language_model.lm_head.weight": "head",
    "model.decoder.embed_positions.weight": "position_embedding",
    "model.layers.0.self_attn.q_proj.weight": "attention",
    "model.layers.0.self_attn.q_norm.weight": "norms",
    "model.layers.0.self_attn.sinks": "attention",
    "transformer.h.0.attn.c_attn.weight": "attention",
    "transformer.h.0.attn.bias": "buffers",  # GPT-2's causal mask, a buffer
    "transformer.h.0.self_attention.query_key_value.weight": "attention",
    "gpt_neox.layers.0.attention.dense.weight": "attention",
    "model.layers.0.input_layernorm.weight": "norms",
    "model.layers.0.post_attention_layernorm.weight": "norms",
    "transformer.h.0.ln_1.weight": "norms",
    "transformer.ln_f.bias": "norms",
    "rwkv.blocks.0.pre_ln.weight": "norms",
    "rwkv.blocks.0.ln1.weight": "norms",
    "model.layers.0.mlp.gate_proj.weight": "mlp",
    "model.layers.0.feed_forward.w1.weight": "mlp",
    "model.decoder.layers.0.fc1.weight": "mlp",
    "model.layers.0.mlp.gate.weight": "router",
    "model.layers.0.mlp.router.bias": "router",
    "model.layers.0.block_sparse_moe.gate.weight": "router",
    "model.layers.0.mlp.experts.3.gate_proj.weight": "experts",
    "model.layers.0.mlp.experts.gate_up_proj": "experts",
    "model.layers.0.mlp.shared_experts.up_proj.weight": "shared_experts",
    "model.layers.0.mlp.shared_expert.up_proj.weight": "shared_experts",
    "model.layers.0.mlp.shared_expert_gate.weight": "shared_experts",
    "model.layers.0.mlp.gate.e_score_correction_bias": "buffers",
    "model.layers.0.self_attn.rotary_emb.inv_freq": "buffers",
    # a state-space mixer's tensors are its token mixer's; Nemotron-H's attention and MLP
    # blocks, also named mixer, are attention and MLP
    "backbone.layers.0.mixer.A_log": "attention",
    "model.layers.0.mamba.in_proj.weight": "attention",
    "backbone.layers.0.mixer.q_proj.weight": "attention",
    "backbone.layers.0.mixer.up_proj.weight": "mlp",
    "backbone.layers.0.mixer.shared_experts.up_proj.weight": "shared_experts",
    "backbone.layers.0.mixer.experts.0.down_proj.weight": "experts",
    "model.decoder.project_in.weight": "other",
    # GGUF
    "token_embd.weight": "token_embedding",
    "position_embd.weight": "position_embedding",
    "output.weight": "head",
    "output_norm.weight": "norms",
    "blk.0.attn_norm.weight": "norms",
    "blk.0.attn_q.weight": "attention",
    "blk.0.attn_output.weight": "attention",
    "blk.0.ffn_norm.weight": "norms",
    "blk.0.ffn_up.weight": "mlp",
    "blk.0.ffn_gate_exps.weight": "experts",
    "blk.0.ffn_gate_inp.weight": "router",
    "blk.0.ffn_up_shexp.weight": "shared_experts",
    "blk.0.exp_probs_b.bias": "buffers",
    "blk.0.ssm_in.weight": "other",
    # zoo's own
    "embed.weight": "token_embedding",
    "positions.weight": "position_embedding",
    "blocks.0.attn.qkv.weight": "attention",
    "blocks.0.norm1.weight": "norms",
    "blocks.0.mlp.fc_in.weight": "mlp",
    "blocks.0.mlp.router.weight": "router",
    "blocks.0.mlp.experts.fc_in": "experts",
    "blocks.0.mlp.shared.fc_in.weight": "shared_experts",
    "final_norm.weight": "norms",
    "head.weight": "head",
}


@pytest.mark.parametrize(("name", "component"), NAMES.items())
def test_names_are_placed_by_the_table(name, component):
    assert classify(name) == component


def test_layer_index_from_names():
    assert [layer_of(n) for n in ("model.layers.12.mlp.up_proj.weight", "transformer.h.3.ln_1",
                                  "blk.7.attn_q.weight", "rwkv.blocks.1.ln1.weight",
                                  "model.embed_tokens.weight", "lm_head.weight")] == \
        [12, 3, 7, 1, None, None]


def test_components_sum_to_the_total_and_other_is_what_no_pattern_placed():
    tensors = [TensorInfo(name, (3, 5), "BF16", 30) for name in NAMES]
    headers = count_headers(tensors, "test")
    buffers = [n for n, c in NAMES.items() if c == "buffers"]  # stored, not parameters
    assert set(headers.components) == set(HEADER_COMPONENTS)
    assert sum(headers.components.values()) == headers.total == 15 * (len(NAMES) - len(buffers))
    assert headers.buffers is not None and headers.buffers.params == 15 * len(buffers)
    others = [n for n, c in NAMES.items() if c == "other"]
    assert list(headers.unclassified) == others
    assert headers.components["other"] == 15 * len(others)
    assert headers.dtypes["BF16"].bytes == 30 * (len(NAMES) - len(buffers))
    assert headers.bytes == 30 * len(NAMES)


def test_packed_and_quantized_tensors():
    """MXFP4 blocks hold two values per byte, their scales are not parameters; FP8 weights are
    one value per element; a packed integer tensor zoo has no rule for is refused by name."""
    headers = count_headers([
        TensorInfo("model.layers.0.mlp.experts.gate_up_proj_blocks", (4, 16, 2, 16), "U8", 2048),
        TensorInfo("model.layers.0.mlp.experts.gate_up_proj_scales", (4, 16, 2), "U8", 128),
        TensorInfo("model.layers.0.self_attn.q_proj.weight", (16, 16), "F8_E4M3", 256),
        TensorInfo("model.layers.0.self_attn.q_proj.weight_scale_inv", (1, 1), "F32", 4),
    ], "test")
    assert headers.components["experts"] == 4 * 16 * 64
    assert headers.components["attention"] == 256
    assert headers.total == 4 * 16 * 64 + 256
    assert headers.scales is not None and (headers.scales.tensors, headers.scales.bytes) == \
        (2, 132)
    assert headers.bytes == 2048 + 128 + 256 + 4
    with pytest.raises(HeadersRefused, match=r"'model.layers.0.mlp.down_proj.qweight' is "
                                             r"stored as I32"):
        count_headers([TensorInfo("model.layers.0.mlp.down_proj.qweight", (8, 64), "I32")], "t")


def _stored(spec_name: str, *, tied_head: bool = False, extra_layer: bool = False,
            buffer: bool = False) -> list[TensorInfo]:
    """A checkpoint's tensors with the closed form's sizes, by component (one tensor each)."""
    count = count_params(get_spec(spec_name))
    # every norm in one tensor, each layer's other weights in another: only the totals matter
    tensors = [TensorInfo("model.embed_tokens.weight", (count.token_embedding,), "BF16"),
               TensorInfo("model.norm.weight", (count.norms,), "BF16")]
    for i, layer in enumerate(count.layers):
        tensors.append(TensorInfo(f"model.layers.{i}.self_attn.qkv.weight",
                                  (layer.total - layer.norms,), "BF16"))
    if extra_layer:
        tensors.append(TensorInfo(f"model.layers.{len(count.layers)}.mlp.up_proj.weight",
                                  (1000,), "BF16"))
    if buffer:
        tensors.append(TensorInfo("model.layers.0.mlp.gate.e_score_correction_bias", (8,),
                                  "F32"))
    if tied_head:
        tensors.append(TensorInfo("lm_head.weight", (count.head_if_untied,), "BF16"))
    return tensors


def test_check_against_the_closed_form_names_what_differs():
    spec = get_spec("smollm2-135m")  # ties its head
    count = count_params(spec)
    headers = count_headers(_stored("smollm2-135m"), "test")
    assert headers.total == count.total
    assert check_headers(headers, count).agrees
    assert check_headers(headers, count).warning() is None

    twice = count_headers(_stored("smollm2-135m", tied_head=True, extra_layer=True,
                                  buffer=True), "test")
    check = check_headers(twice, count)
    assert check.difference == count.head_if_untied + 1000 and check.unexplained == 0
    assert twice.buffers is not None and twice.buffers.params == 8  # stored, not counted
    warning = check.warning()
    assert f"{twice.total:,}" in warning and f"{count.total:,}" in warning
    assert "ties it" in warning and f"layer {spec.n_layer} " in warning

    odd = count_headers([*_stored("smollm2-135m"), TensorInfo("vision.w", (5,), "BF16")], "t")
    check = check_headers(odd, count)
    assert check.unexplained == 5 and "+5 that zoo cannot explain" in check.warning()


def test_an_image_text_checkpoint_s_vision_tower_is_named():
    """Llama 4's and Gemma 3's checkpoints hold a vision tower beside the text decoder their
    spec describes: its tensors explain the difference, and its layer numbers are not taken
    for the decoder's (a tower deeper than the decoder is not multi-token prediction)."""
    count = count_params(get_spec("smollm2-135m"))
    vision = [TensorInfo("vision_model.model.layers.40.mlp.fc1.weight", (7, 3), "BF16"),
              TensorInfo("multi_modal_projector.linear_1.weight", (4,), "BF16")]
    check = check_headers(count_headers([*_stored("smollm2-135m"), *vision], "t"), count)
    assert check.difference == 25 and check.unexplained == 0
    assert "25 in the vision tower and image projector (2 tensors)" in check.warning()
    assert "multi-token" not in check.warning()

"""The 2024-2025 dense families: the closed form against transformers' own counts, no torch.

Each literal below is transformers' count of the published config, not zoo's: the model built by
`AutoModelForCausalLM.from_config` on the meta device (transformers 5.24.0), its parameters summed
with tied weights once. For Gemma 3 4B, 12B and 27B it is the text decoder only
(Gemma3TextConfig -> Gemma3ForCausalLM from the multimodal config's text_config). The spec files
say where each config came from. So these pin the accounting to transformers even where the
decoder is not built.
"""

from __future__ import annotations

import pytest

import zoo

# transformers meta-device counts of the published configs (tied heads counted once)
TRANSFORMERS_COUNTS = {
    # Llama 3, 3.1, 3.2 (LlamaForCausalLM)
    "llama-3-8b": 8_030_261_248,
    "llama-3-70b": 70_553_706_496,
    "llama-3.1-8b": 8_030_261_248,
    "llama-3.1-70b": 70_553_706_496,
    "llama-3.1-405b": 405_853_388_800,
    "llama-3.2-1b": 1_235_814_400,
    "llama-3.2-3b": 3_212_749_824,
    # Qwen2.5 (Qwen2ForCausalLM; 1.5B counted from the -Instruct config, 72B from Qwen2-72B's,
    # whose shapes the spec files show to be the same)
    "qwen2.5-0.5b": 494_032_768,
    "qwen2.5-1.5b": 1_543_714_304,
    "qwen2.5-3b": 3_085_938_688,
    "qwen2.5-7b": 7_615_616_512,
    "qwen2.5-14b": 14_770_033_664,
    "qwen2.5-32b": 32_763_876_352,
    "qwen2.5-72b": 72_706_203_648,
    # Qwen3 (Qwen3ForCausalLM)
    "qwen3-0.6b": 596_049_920,
    "qwen3-1.7b": 1_720_574_976,
    "qwen3-4b": 4_022_468_096,
    "qwen3-8b": 8_190_735_360,
    "qwen3-14b": 14_768_307_200,
    "qwen3-32b": 32_762_123_264,
    # Gemma (GemmaForCausalLM)
    "gemma-2b": 2_506_172_416,
    "gemma-7b": 8_537_680_896,
    # Gemma 2 (Gemma2ForCausalLM)
    "gemma-2-2b": 2_614_341_888,
    "gemma-2-9b": 9_241_705_984,
    "gemma-2-27b": 27_227_128_320,
    # Gemma 3 (Gemma3ForCausalLM; text decoder only for 4B, 12B, 27B)
    "gemma-3-270m": 268_098_176,
    "gemma-3-1b": 999_885_952,
    "gemma-3-4b": 3_880_263_168,
    "gemma-3-12b": 11_766_034_176,
    "gemma-3-27b": 27_009_346_304,
    # Phi-1.5, Phi-2 (PhiForCausalLM)
    "phi-1.5": 1_418_270_720,
    "phi-2": 2_779_683_840,
    # Stable LM 2 (StableLmForCausalLM)
    "stablelm-2-1.6b": 1_644_515_328,
    # StarCoder2 (Starcoder2ForCausalLM; 3B and 7B tied by the class default, 15B untied)
    "starcoder2-3b": 3_030_371_328,
    "starcoder2-7b": 7_173_923_840,
    "starcoder2-15b": 15_957_889_024,
    # Gemma 4 (Gemma4ForCausalLM from the multimodal config's text_config, transformers 5.25:
    # the text decoder only; the specs' notes give the whole checkpoints' counts)
    "gemma-4-e2b": 4_628_569_344,
    "gemma-4-e4b": 7_463_013_376,
    "gemma-4-26b-a4b": 25_233_141_760,
    "gemma-4-31b": 30_697_345_280,
    # Phi-3, Phi-4 (Phi3ForCausalLM)
    "phi-3-mini-4k": 3_821_079_552,
    "phi-3-medium-4k": 13_960_238_080,
    "phi-4": 14_659_507_200,
    "phi-4-mini": 3_836_021_760,
    # OLMo (OlmoForCausalLM: the -hf checkpoints)
    "olmo-1b": 1_176_764_416,
    "olmo-7b": 6_888_095_744,
    # OLMo 2 (Olmo2ForCausalLM)
    "olmo-2-7b": 7_298_617_344,
    "olmo-2-13b": 13_716_198_400,
    # SantaCoder, StarCoder (GPTBigCodeForCausalLM; tied by the class default)
    "santacoder": 1_124_886_528,
    "starcoder": 15_517_456_384,
    # SmolLM2 (LlamaForCausalLM), SmolLM3 (SmolLM3ForCausalLM)
    "smollm2-360m": 361_821_120,
    "smollm2-1.7b": 1_711_376_384,
    "smollm3-3b": 3_075_098_624,
    # Granite 3.3 (GraniteForCausalLM)
    "granite-3.3-8b": 8_170_864_640,
    # GLM-4 (GlmForCausalLM), GLM-4-0414 (Glm4ForCausalLM)
    "glm-4-9b-chat": 9_399_951_360,
    "glm-4-9b-0414": 9_400_279_040,
    # ERNIE 4.5 (Ernie4_5ForCausalLM)
    "ernie-4.5-0.3b": 360_748_032,
    # Command R (CohereForCausalLM), Command R7B (Cohere2ForCausalLM)
    "command-r-v01": 34_980_831_232,
    "command-r-plus": 103_810_674_688,
    "command-r7b": 8_028_033_024,
    # Llama 4 (Llama4ForCausalLM from the text_config, transformers 5.25): the text decoder
    "llama-4-scout-17b-16e": 107_769_861_120,
    "llama-4-maverick-17b-128e": 400_711_848_960,
    # Qwen3-Next (Qwen3NextForCausalLM) and Qwen3.5's text decoders (Qwen3_5ForCausalLM,
    # Qwen3_5MoeForCausalLM from the published text_config; transformers 5.25): hybrid Gated
    # DeltaNet and gated full attention
    "qwen3-next-80b-a3b": 79_674_391_296,
    "qwen3.5-27b": 26_895_998_464,
    "qwen3.5-35b-a3b": 34_660_610_688,
    "qwen3.5-122b-a10b": 122_111_526_912,
    "qwen3.5-397b-a17b": 396_346_350_336,
}

# active per token (embedding and head included) of the hybrid mixtures, by transformers' meta
# model less the routed experts a token does not go through
TRANSFORMERS_ACTIVE = {
    "qwen3-next-80b-a3b": 3_874_929_408,
    "qwen3.5-35b-a3b": 3_454_988_928,
    "qwen3.5-122b-a10b": 9_771_288_576,
    "qwen3.5-397b-a17b": 17_349_040_896,
}


# mixtures of experts: transformers' meta count of the published config (transformers 5.25),
# and the active count with the embedding and head (the convention each card uses)
MOE_COUNTS = {
    # Qwen1.5-MoE, Qwen2-MoE (Qwen2MoeForCausalLM)
    "qwen1.5-moe-a2.7b": (14_315_784_192, 2_689_173_504),
    "qwen2-57b-a14b": (57_408_658_944, 14_249_270_784),
    # OLMoE (OlmoeForCausalLM)
    "olmoe-1b-7b": (6_919_161_856, 1_282_017_280),
    # ERNIE 4.5 MoE (Ernie4_5_MoeForCausalLM; its routing biases are parameters, its MTP layer
    # is not built)
    "ernie-4.5-21b-a3b": (21_825_437_888, 3_352_150_208),
    # Granite 3.1 MoE (GraniteMoeForCausalLM)
    "granite-3.1-1b-a400m": (1_334_628_352, 428_658_688),
    "granite-3.1-3b-a800m": (3_298_793_472, 882_874_368),
    # MiniMax-M2 (MiniMaxM2ForCausalLM; its multi-token-prediction modules are not built)
    "minimax-m2": (228_689_748_992, 11_030_537_216),
}


@pytest.mark.parametrize(("name", "counts"), MOE_COUNTS.items())
def test_moe_closed_form_equals_transformers(name, counts):
    count = zoo.count_params(name)
    assert (count.total, count.active_by("all")) == counts


@pytest.mark.parametrize(("name", "total"), TRANSFORMERS_COUNTS.items())
def test_closed_form_equals_transformers(name, total):
    assert zoo.count_params(name).total == total


@pytest.mark.parametrize(("name", "active"), TRANSFORMERS_ACTIVE.items())
def test_hybrid_active_counts(name, active):
    assert zoo.count_params(name).active == active


def test_linear_attention_state_is_constant_in_context():
    """Qwen3-Next: 36 Gated DeltaNet layers, each a 32 x 128 x 128 state and its 4-tap
    convolution's last 3 inputs over q, k, v (2 x 2048 + 4096 channels); only the 12 full
    layers cache keys and values (2 kv heads of 256)."""
    count = zoo.count_params("qwen3-next-80b-a3b")
    per_layer = 32 * 128 * 128 + 3 * (2 * 2048 + 4096)
    assert count.recurrent_state_bytes("bf16") == 36 * per_layer * 2
    assert count.kv_cache_bytes(1000, "bf16") == 12 * 1000 * 2 * 2 * 256 * 2
    flops = count.attention_flops_per_token
    assert flops(2000) - flops(1000) == 12 * 1000 * 2 * (16 * 256 + 16 * 256)
    assert flops(1) == 12 * 2 * (16 * 256 + 16 * 256) + 36 * 6 * 32 * 128 * 128
    figures = count.to_dict(1000)
    assert figures["recurrent_state"]["bytes_per_sequence"]["bf16"] == 36 * per_layer * 2
    assert "recurrent_state" not in zoo.count_params("qwen3-8b").to_dict()


def test_gemma2_non_embedding_equals_the_report():
    # Gemma 2 report, Table 2: non-embedding parameters, stated exactly
    report = {"gemma-2-2b": 2_024_517_888, "gemma-2-9b": 8_324_201_984,
              "gemma-2-27b": 26_047_480_320}
    for name, non_embedding in report.items():
        assert zoo.count_params(name).non_embedding == non_embedding


def test_gemma_non_embedding_equals_the_report():
    # Gemma report, Table 2: non-embedding parameters, stated exactly (its embedding column
    # counts a table padded to 256,128 rows)
    report = {"gemma-2b": 1_981_884_416, "gemma-7b": 7_751_248_896}
    for name, non_embedding in report.items():
        assert zoo.count_params(name).non_embedding == non_embedding


def test_gemma4_active_and_per_layer_shapes():
    """26B-A4B: the dense MLP beside the experts is active for every token (transformers' count
    less 120 idle experts a layer); E2B: the 20 layers sharing keys and values have no k/v
    projections, a double-wide MLP and no cache of their own; 31B: global layers with 512-wide
    heads, 4 kv heads and no v_proj."""
    moe = zoo.count_params("gemma-4-26b-a4b")
    assert (moe.active_by("all"), moe.active_by("no_embedding")) == (3_822_530_560,
                                                                     3_084_333_056)
    e2b = zoo.count_params("gemma-4-e2b")
    d, p = 1536, 256
    assert e2b.token_embedding == 262_144 * d + 262_144 * 35 * p  # with the per-layer table
    made, shared = e2b.layers[14], e2b.layers[34]  # both global
    assert made.attention - shared.attention == 2 * 512 * d  # k and v: one kv head of 512
    assert shared.mlp == 3 * d * 2 * 6144 and made.mlp == 3 * d * 6144
    assert e2b.kv_cache_bytes(1, "fp32") == 4 * 2 * 256 * (12 + 3 * 512 // 256)
    big = zoo.count_params("gemma-4-31b")
    local, glob = big.layers[0], big.layers[5]
    assert local.attention == 5376 * (8192 + 2 * 4096) + 8192 * 5376
    assert glob.attention == 5376 * (16384 + 2048) + 16384 * 5376
    assert big.kv_cache_bytes(1, "fp32") == 4 * (50 * 2 * 16 * 256 + 10 * 2 * 4 * 512)


def test_per_layer_patterns():
    gemma2 = zoo.get_spec("gemma-2-2b")
    assert gemma2.layer_kinds[:4] == ("local", "global", "local", "global")
    gemma3 = zoo.get_spec("gemma-3-27b")
    assert [i for i, k in enumerate(gemma3.layer_kinds) if k == "global"] == list(range(5, 62, 6))
    smollm3 = zoo.get_spec("smollm3-3b")
    assert [i for i, r in enumerate(smollm3.layer_rotary) if not r] == list(range(3, 36, 4))
    assert zoo.get_spec("phi-3-mini-4k").layer_kinds == ("local",) * 32
    assert not zoo.get_spec("phi-4").has_local


# The DeepSeek line (transformers 5.25 meta-device counts of the published configs: Kimi K2's
# with DeepseekV3ForCausalLM, which its config names): total, and active per token with the
# embedding (the `all` convention)
DEEPSEEK_LINE = {
    "kimi-k2": (1_026_408_209_408, 32_861_477_888),
    "deepseek-v2": (235_741_434_880, 21_375_800_320),
    "deepseek-v2-lite": (15_706_484_224, 2_661_150_208),
    "glm-4.5": (352_797_814_784, 33_632_251_904),
    "deepseek-v3.2": (671_877_929_216, 38_403_807_488),
    "glm-4.5-air": (106_852_245_504, 13_424_123_904),
}


@pytest.mark.parametrize(("name", "counts"), DEEPSEEK_LINE.items())
def test_deepseek_line_totals_and_actives(name, counts):
    count = zoo.count_params(name)
    assert (count.total, count.active) == counts


def test_sparse_attention_caches_the_indexer_key():
    """DeepSeek-V3.2's cache: the latent, the rotated key and the indexer's key per token."""
    assert zoo.count_params("deepseek-v3.2").kv_cache_bytes(1, "bf16") == 61 * (512 + 64 + 128) * 2


def test_sparse_attention_attends_to_the_indexers_picks_only():
    """Every key is cached, but a query attends to the indexer's 2048 picks at most: past 2048
    tokens DeepSeek-V3.2's attention FLOPs stop growing, its cache does not. Per key and layer,
    128 heads of (192 + 128) scores and weighted sums, 2 FLOPs each."""
    count = zoo.count_params("deepseek-v3.2")
    per_key = 61 * 2 * 128 * (192 + 128)
    assert count.attention_flops_per_token(1000) == per_key * 1000
    assert count.attention_flops_per_token(100_000) == count.attention_flops_per_token(2048) \
        == per_key * 2048
    assert count.kv_cache_bytes(100_000, "bf16") == 100_000 * count.kv_cache_bytes(1, "bf16")


# Llama 4's published vision_config (the same in Scout and Maverick), and transformers 5.25's
# counts of the whole Llama4ForConditionalGeneration (vision tower, projector, text decoder)
LLAMA4_VISION = {"hidden_size": 1408, "image_size": 336, "intermediate_size": 5632,
                 "num_attention_heads": 16, "num_channels": 3, "num_hidden_layers": 34,
                 "patch_size": 14, "pixel_shuffle_ratio": 0.5, "projector_input_dim": 4096,
                 "projector_output_dim": 4096, "vision_output_dim": 4096,
                 "multi_modal_projector_bias": False}
LLAMA4_WHOLE = {"llama-4-scout-17b-16e": 108_641_793_536,
                "llama-4-maverick-17b-128e": 401_583_781_376}


@pytest.mark.parametrize(("name", "whole"), LLAMA4_WHOLE.items())
def test_llama4_whole_model_is_decoder_plus_vision_tower(name, whole):
    from zoo.architectures.llama4 import vision_params

    config = {"model_type": "llama4", "vision_config": LLAMA4_VISION,
              "text_config": {"hidden_size": zoo.get_spec(name).d_model}}
    assert zoo.count_params(name).total + vision_params(config) == whole


# Gemma 3's published SigLIP vision_config (4B, 12B and 27B), and the whole
# Gemma3ForConditionalGeneration's count as transformers 5.25 builds it (the Hub's figures)
GEMMA3_VISION = {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
                 "model_type": "siglip_vision_model", "num_attention_heads": 16,
                 "num_hidden_layers": 27, "patch_size": 14, "vision_use_head": False}
GEMMA3_WHOLE = {"gemma-3-4b": 4_300_079_472, "gemma-3-12b": 12_187_325_040,
                "gemma-3-27b": 27_432_406_640}


@pytest.mark.parametrize(("name", "whole"), GEMMA3_WHOLE.items())
def test_gemma3_whole_checkpoint_is_decoder_plus_siglip_tower(name, whole):
    from zoo.architectures import spec_from_config, write_config

    config = {"model_type": "gemma3", "vision_config": GEMMA3_VISION,
              "text_config": write_config(zoo.get_spec(name))}
    spec = spec_from_config(config)
    assert zoo.count_params(spec).total == zoo.count_params(name).total
    assert zoo.count_params(spec).total + spec.rest_params == whole


def test_llama4_active_and_chunked_cache():
    scout, maverick = zoo.count_params("llama-4-scout-17b-16e"), \
        zoo.count_params("llama-4-maverick-17b-128e")
    assert scout.active == 17_172_894_720
    assert maverick.active == 17_184_691_200
    # 36 chunked layers hold at most 8192 positions, the 12 NoPE layers the whole context
    per_position = 2 * 8 * 128 * 2  # keys and values, 8 kv heads of 128, bf16
    assert scout.kv_cache_bytes(262_144) == per_position * (36 * 8192 + 12 * 262_144)
    assert scout.kv_cache_bytes(4096) == per_position * 48 * 4096
    assert scout.attention_flops_per_token(262_144) == \
        2 * (2 * 40 * 128) * (36 * 8192 + 12 * 262_144)


# published config.json files of types zoo counts (the counted tier) without a registry spec: the
# keys as vendored copies transcribe them (Persimmon: a snapshot of the Hub file at 94dc4e0b;
# MiMo-V2-Flash: a Rust engine's hub-config test,
# whose own keys (hybrid_layer_pattern, moe_layer_freq, swa_*) transformers does not read: its class
# defaults say the same; Solar Open: a Swift test's "faithful slice"; Mamba-130M: the whole
# config.json of state-spaces/mamba-130m-hf as a Megatron bridge test vendors it), each with
# transformers 5.25's meta-device count of the same dict and the active count with embedding and
# head
MIMO_FULL = [i == 0 or not (i + 1) % 6 for i in range(48)]
MAMBA_130M = {
    "architectures": ["MambaForCausalLM"], "bos_token_id": 0, "conv_kernel": 4, "d_inner": 1536,
    "d_model": 768, "eos_token_id": 0, "expand": 2, "fused_add_norm": True, "hidden_act": "silu",
    "hidden_size": 768, "initializer_range": 0.1, "intermediate_size": 1536,
    "layer_norm_epsilon": 1e-05, "model_type": "mamba", "n_layer": 24, "num_hidden_layers": 24,
    "pad_token_id": 0, "pad_vocab_size_multiple": 8, "rescale_prenorm_residual": False,
    "residual_in_fp32": True, "rms_norm": True, "ssm_cfg": {}, "state_size": 16,
    "time_step_floor": 0.0001, "time_step_init_scheme": "random", "time_step_max": 0.1,
    "time_step_min": 0.001, "time_step_rank": 48, "time_step_scale": 1.0,
    "torch_dtype": "float32", "transformers_version": "4.39.0.dev0", "use_bias": False,
    "use_cache": True, "use_conv_bias": True, "vocab_size": 50280}
# MiniMax-Text-01 in transformers' format: its shapes as a published module printout and a
# re-implementation's config transcribe them (vocabulary 200064, hidden 6144, 80 layers of 64
# heads of 128 with 8 kv heads, 7 lightning layers then one of softmax attention, 32 experts of
# 9216, 2 a token); the paper (arXiv 2501.08313) says 456B in all and 45.9B active per token
MINIMAX_TEXT_01 = {
    "model_type": "minimax", "vocab_size": 200064, "hidden_size": 6144,
    "intermediate_size": 9216, "num_hidden_layers": 80, "num_attention_heads": 64,
    "num_key_value_heads": 8, "head_dim": 128, "num_local_experts": 32, "num_experts_per_tok": 2,
    "max_position_embeddings": 10240000, "tie_word_embeddings": False,
    "layer_types": ["full_attention" if i % 8 == 7 else "linear_attention" for i in range(80)]}
# DeepSeek-V4-Flash's config.json as a public Rust loader's test vendors it in full (its
# OFFICIAL_CONFIG, pinned there by length and sha256), without quantization_config (FP8 blocks:
# no parameter of its own) and the DSpark keys, which transformers does not read; the first 43
# of compress_ratios are the layers (the rest are the multi-token-prediction layers'), the same
# as Flash-Base's. DeepSeek states 284B in all and 13B activated
V4_RATIOS = [0, 0, *[4, 128] * 20, 4, 0, 0, 0]
DEEPSEEK_V4_FLASH = {
    "architectures": ["DeepseekV4ForCausalLM"], "attention_bias": False,
    "attention_dropout": 0.0, "bos_token_id": 0, "eos_token_id": 1, "expert_dtype": "fp4",
    "hc_eps": 1e-06, "hc_mult": 4, "hc_sinkhorn_iters": 20, "head_dim": 512,
    "hidden_act": "silu", "hidden_size": 4096, "index_head_dim": 128, "index_n_heads": 64,
    "index_topk": 512, "initializer_range": 0.02, "max_position_embeddings": 1048576,
    "model_type": "deepseek_v4", "moe_intermediate_size": 2048, "n_routed_experts": 256,
    "n_shared_experts": 1, "norm_topk_prob": True, "num_attention_heads": 64,
    "num_experts_per_tok": 6, "num_hidden_layers": 43, "num_hash_layers": 3,
    "num_key_value_heads": 1, "num_nextn_predict_layers": 1, "o_groups": 8,
    "o_lora_rank": 1024, "q_lora_rank": 1024, "qk_rope_head_dim": 64, "rms_norm_eps": 1e-06,
    "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 16,
                     "original_max_position_embeddings": 65536, "type": "yarn"},
    "rope_theta": 10000, "routed_scaling_factor": 1.5, "scoring_func": "sqrtsoftplus",
    "sliding_window": 128, "swiglu_limit": 10.0, "tie_word_embeddings": False,
    "topk_method": "noaux_tc", "torch_dtype": "bfloat16", "use_cache": True,
    "vocab_size": 129280, "compress_rope_theta": 160000, "compress_ratios": V4_RATIOS}
# LongCat-Flash-Chat: the Hub's config.json could not be read here; these are its shapes as
# transformers' LongcatFlashConfig states them for that checkpoint (its docstring's, and the
# defaults its integration tests load it with), which a public expert-expanding script's copy
# of the config.json repeats (512 experts of 2048 beside 256 zero experts, 12 a token, 28
# layers of 6144); the card: 560B in all, 18.6B-31.3B active (27B on average)
LONGCAT_FLASH_CHAT = {
    "model_type": "longcat_flash", "architectures": ["LongcatFlashForCausalLM"],
    "vocab_size": 131072, "hidden_size": 6144, "ffn_hidden_size": 12288,
    "expert_ffn_hidden_size": 2048, "num_layers": 28, "num_attention_heads": 64,
    "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128,
    "v_head_dim": 128, "n_routed_experts": 512, "zero_expert_num": 256,
    "zero_expert_type": "identity", "moe_topk": 12, "routed_scaling_factor": 6.0,
    "rms_norm_eps": 1e-5, "max_position_embeddings": 131072, "rope_theta": 10000000.0,
    "mla_scale_q_lora": True, "mla_scale_kv_lora": True, "attention_bias": False,
    "tie_word_embeddings": False}
# MiniCPM5-15B-A2.5B: likewise its shapes as transformers' MiniCPM5MoeConfig states them for
# that checkpoint, which a public pre-training script's check of the config.json repeats key by
# key (28 layers of 2048, 32 heads of 128 over 2 kv heads, one dense layer of 8192, then 160
# experts of 512, 16 a token, and one shared); the card: 15B in all, 2.5B active
MINICPM5_15B = {
    "model_type": "minicpm5_moe", "architectures": ["MiniCPM5MoeForCausalLM"],
    "vocab_size": 130560, "hidden_size": 2048, "intermediate_size": 8192,
    "num_hidden_layers": 28, "num_attention_heads": 32, "num_key_value_heads": 2,
    "head_dim": 128, "moe_intermediate_size": 512, "n_routed_experts": 160,
    "n_shared_experts": 1, "num_experts_per_tok": 16, "first_k_dense_replace": 1,
    "routed_scaling_factor": 3.66, "n_group": 1, "topk_group": 1, "norm_topk_prob": True,
    "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "attention_bias": False}
# moonshotai/Kimi-Linear-48B-A3B-Instruct's config.json in its remote code's spelling, as the
# config.json of a quantized copy (Firworks/Kimi-Linear-48B-A3B-Instruct-nvfp4) keeps it, its
# quantization_config left out; a transcription of another copy's (cyankiwi's AWQ) agrees key
# by key. Layers 4, 8, ..., 24 and 27 (1-indexed) are latent attention, the rest KDA; the
# model card says 48B in all (the total without embedding and head: 48.37B) and 3B active
KIMI_LINEAR_48B = {
    "architectures": ["KimiLinearForCausalLM"], "model_type": "kimi_linear",
    "bos_token_id": 163584, "eos_token_id": 163586, "pad_token_id": 163839,
    "first_k_dense_replace": 1, "head_dim": 72, "hidden_act": "silu", "hidden_size": 2304,
    "initializer_range": 0.02, "intermediate_size": 9216, "kv_lora_rank": 512,
    "linear_attn_config": {
        "full_attn_layers": [4, 8, 12, 16, 20, 24, 27], "head_dim": 128,
        "kda_layers": [1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19, 21, 22, 23, 25,
                       26],
        "num_heads": 32, "short_conv_kernel_size": 4},
    "mla_use_nope": True, "model_max_length": 1048576, "moe_intermediate_size": 1024,
    "moe_layer_freq": 1, "moe_renormalize": True, "moe_router_activation_func": "sigmoid",
    "num_attention_heads": 32, "num_expert_group": 1, "num_experts": 256,
    "num_experts_per_token": 8, "num_hidden_layers": 27, "num_key_value_heads": 32,
    "num_nextn_predict_layers": 0, "num_shared_experts": 1, "q_lora_rank": None,
    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "rms_norm_eps": 1e-5, "rope_scaling": None,
    "rope_theta": 10000.0, "routed_scaling_factor": 2.446, "tie_word_embeddings": False,
    "topk_group": 1, "use_cache": True, "use_grouped_topk": True, "v_head_dim": 128,
    "vocab_size": 163840}
# rhymes-ai/Aria's config.json (model_type aria, transformers' format): its text_config and
# vision_config keys as a public audit of that checkpoint transcribes them from the config.json
# (its table of dimensions gives each value's provenance: config.json or the class default),
# the text decoder's shapes repeated by rhymes-ai/Aria's own gptfast/model.py ModelArgs (vocab
# 100352, 28 layers of 2560, 20 heads, 64 experts of 1664, 6 a token, 2 shared); the paper
# (arXiv 2410.05993) says 24.9B in all and 3.5B active per text token (3.9B per visual token)
ARIA_TEXT = {
    "model_type": "aria_text", "hidden_size": 2560, "intermediate_size": 1664,
    "max_position_embeddings": 65536, "moe_num_experts": 64, "moe_topk": 6,
    "num_attention_heads": 20, "num_hidden_layers": 28, "num_key_value_heads": 20,
    "rope_theta": 5000000, "vocab_size": 100352}
ARIA = {
    "architectures": ["AriaForConditionalGeneration"], "model_type": "aria",
    "image_token_index": 9, "projector_patch_to_query_dict": {"1225": 128, "4900": 256},
    "text_config": ARIA_TEXT,
    "vision_config": {"model_type": "idefics3_vision", "attention_heads": 16,
                      "image_size": 980, "intermediate_size": 4304, "num_hidden_layers": 27,
                      "patch_size": 14}}
# MiniMax-M3's text_config (MiniMaxAI/MiniMax-M3's config.json, text decoder only) in the
# remote code's spelling, as a public MLX port transcribes it key by key in a test of its
# config parsing (lablup/mlxcel, src/models/minimax_m3.rs, test_m3_config_parsing): dense MLPs
# and full attention on the first 3 layers, experts under sparse attention on the other 57.
# The card: ~428B in all (with the vision tower and the multi-token-prediction modules, which
# transformers does not build) and ~23B activated (23.50B without embedding and head)
M3_SPARSE = [0, 0, 0] + [1] * 57
MINIMAX_M3 = {
    "model_type": "minimax_m3_vl_text", "hidden_size": 6144, "intermediate_size": 3072,
    "num_hidden_layers": 60, "num_attention_heads": 64, "num_key_value_heads": 4,
    "head_dim": 128, "vocab_size": 200064, "rms_norm_eps": 1e-06, "rope_theta": 5000000,
    "rotary_dim": 64, "partial_rotary_factor": 0.5, "use_qk_norm": True,
    "tie_word_embeddings": False, "dense_intermediate_size": 12288,
    "shared_intermediate_size": 3072, "num_local_experts": 128, "num_experts_per_tok": 4,
    "n_shared_experts": 1, "scoring_func": "sigmoid", "use_routing_bias": True,
    "moe_layer_freq": M3_SPARSE, "qk_norm_type": "per_head", "swiglu_alpha": 1.702,
    "swiglu_limit": 7.0, "routed_scaling_factor": 2.0,
    "sparse_attention_config": {
        "use_sparse_attention": True, "sparse_index_dim": 128, "sparse_num_index_heads": 4,
        "sparse_topk_blocks": 16, "sparse_block_size": 128,
        "sparse_disable_index_value": M3_SPARSE, "sparse_attention_freq": M3_SPARSE}}
# Llama-3.2-11B-Vision(-Instruct)'s config.json: text_config as dumped in
# mylesgoose/Llama-3.2-11B-Vision-Instruct's fine-tuning script (a public copy of Meta's
# shapes), vision_config as quoted in danbev/learning-ai notes/llama.cpp/llama-3-2-vision.md
LLAMA32_11B_VISION = {
    "architectures": ["MllamaForConditionalGeneration"], "model_type": "mllama",
    "image_token_index": 128256,
    "text_config": {
        "model_type": "mllama_text_model", "cross_attention_layers": [3, 8, 13, 18, 23, 28, 33, 38],
        "dropout": 0, "hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 14336,
        "max_position_embeddings": 131072, "num_attention_heads": 32, "num_hidden_layers": 40,
        "num_key_value_heads": 8, "pad_token_id": 128004, "rms_norm_eps": 1e-05,
        "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "rope_theta": 500000.0, "tie_word_embeddings": False, "vocab_size": 128256},
    "vision_config": {
        "attention_heads": 16, "hidden_act": "gelu", "hidden_size": 1280, "image_size": 560,
        "intermediate_size": 5120, "max_num_tiles": 4, "model_type": "mllama_vision_model",
        "num_channels": 3, "num_global_layers": 8, "num_hidden_layers": 32, "patch_size": 14,
        "supported_aspect_ratios": [[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1],
                                    [4, 1]],
        "vision_output_dim": 7680}}
# BAAI/Emu3-Gen's config.json (remote-code format, model_type "Emu3"), as vendored in
# mindspore-lab/mindone's Emu3 inference test; transformers builds it as Emu3TextConfig
EMU3_GEN = {
    "architectures": ["Emu3ForCausalLM"], "model_type": "Emu3", "attention_dropout": 0.1,
    "hidden_act": "silu", "hidden_size": 4096, "image_area": 262144,
    "intermediate_size": 14336, "max_position_embeddings": 5120, "num_attention_heads": 32,
    "num_hidden_layers": 32, "num_key_value_heads": 8, "pad_token_id": 151643,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 1000000.0,
    "tie_word_embeddings": False, "vocab_size": 184622}


# google/gemma-3n-E2B and -E4B: the Hub's config.json could not be read here, and no public
# repository found vendors it whole; these are their text_config's keys as transformers'
# Gemma3nTextConfig states E4B's (its defaults, documented for google/gemma-3n-E4B) and as a
# public Gemma 3n port in AI Edge Torch's style states both (get_model_config_e2b / _e4b: 30 or
# 35 layers of 2048, MLPs of 8192 or 16384, 10 or 15 layers sharing keys and values, the first
# 10 layers' activations sparse at 0.95), which public engines' E2B test fixtures repeat (30
# layers, 10 shared). Google: "over 5 billion parameters are loaded" for E2B (5B and 8B raw,
# towers included), "an effective memory load of just under 2 billion (1.91B)"
def gemma3n_text(layers: int, width: int, shared: int) -> dict:
    return {
        "model_type": "gemma3n_text", "vocab_size": 262400, "vocab_size_per_layer_input": 262144,
        "hidden_size": 2048, "hidden_size_per_layer_input": 256,
        "intermediate_size": [width] * layers, "num_hidden_layers": layers,
        "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 256,
        "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
        "rope_scaling": None, "sliding_window": 512, "final_logit_softcapping": 30.0,
        "query_pre_attn_scalar": 256, "attention_bias": False, "attention_dropout": 0.0,
        "layer_types": ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention"
                        for i in range(layers)],
        "altup_active_idx": 0, "altup_coef_clip": 120.0, "altup_correct_scale": True,
        "altup_lr_multiplier": 1.0, "altup_num_inputs": 4, "laurel_rank": 64,
        "num_kv_shared_layers": shared,
        "activation_sparsity_pattern": [0.95] * 10 + [0.0] * (layers - 10)}


GEMMA_3N_E2B, GEMMA_3N_E4B = gemma3n_text(30, 8192, 10), gemma3n_text(35, 16384, 15)

# Aleph-Alpha/Kolibri-1's config.json as a public Zig port of Kolibri 1 vendors it (its
# config.zig's `released`: the Hub file unreadable here; only quantization_config's
# modules_to_not_convert list cut short, which changes no count, and left out here since
# transformers' meta-device build would quantize): every fifth layer full attention, the rest
# 513-token windows; a kolibri1_quantize test elsewhere pins the same shapes
KOLIBRI_1 = {
    "model_type": "kolibri1", "architectures": ["Kolibri1ForCausalLM"], "hidden_size": 2560,
    "num_hidden_layers": 50, "num_attention_heads": 48, "num_key_value_heads": 4,
    "head_dim": 128, "rms_norm_eps": 1e-06, "vocab_size": 128000, "rope_theta": 10000.0,
    "num_experts": 384, "num_experts_per_tok": 6, "moe_intermediate_size": 512,
    "shared_expert_intermediate_size": 512, "norm_topk_prob": False, "sliding_window": 513,
    "eos_token_id": 127906,
    "layer_types": ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention"
                    for i in range(50)]}
# Zyphra/ZAYA1-8B's config.json at revision 67d34da515b30409ee8daa67c3605c4402d03f6f, as
# sgl-project/sglang's test/registered/unit/configs/test_zaya_config.py copies it key
# by key, its 40 "hybrid" layer types written as a list (the Hub file unreadable here); its
# rope_parameters keyed by layer type with a stray top-level rope_type, as released
ZAYA1_8B = {
    "architectures": ["ZayaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 2, "cca_time0": 2, "cca_time1": 2, "dtype": "bfloat16",
    "eos_token_id": 106, "head_dim": 128, "hidden_act": "silu", "hidden_size": 2048,
    "initializer_range": 0.02, "layer_types": ["hybrid"] * 40, "lm_head_bias": False,
    "max_position_embeddings": 131072, "model_type": "zaya", "moe_intermediate_size": 2048,
    "num_attention_heads": 8, "num_experts": 16, "num_experts_per_tok": 1,
    "num_hidden_layers": 40, "num_key_value_heads": 2, "output_router_logits": False,
    "pad_token_id": 0, "partial_rotary_factor": 0.5, "rms_norm_eps": 1e-05,
    "rope_parameters": {
        "hybrid": {"partial_rotary_factor": 0.5, "rope_theta": 5000000, "rope_type": "default"},
        "hybrid_sliding": {"partial_rotary_factor": 0.5, "rope_theta": 10000.0,
                           "rope_type": "default"},
        "rope_type": "default"},
    "router_hidden_size": 256, "sliding_window": None, "tie_word_embeddings": True,
    "use_cache": True, "vocab_size": 262272}
# google/gemma-4-12B's config.json (Hub revision 56820d7d) as a public agent log prints it
# whole (the Hub file unreadable here), label maps and null output switches left out: Gemma 4's
# per-layer-input and expert keys, which the unified class does not take, kept as published
_GEMMA4_ROPE = {"full_attention": {"partial_rotary_factor": 0.25, "rope_theta": 1000000.0,
                                   "rope_type": "proportional"},
                "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}}
GEMMA_4_12B = {
    "architectures": ["Gemma4UnifiedForConditionalGeneration"], "model_type": "gemma4_unified",
    "audio_config": {"audio_embed_dim": 640, "audio_samples_per_token": 640,
                     "hidden_size": 640, "model_type": "gemma4_unified_audio",
                     "output_proj_dims": 640, "rms_norm_eps": 1e-06},
    "audio_token_id": 258881, "boa_token_id": 256000, "boi_token_id": 255999,
    "eoa_token_index": 258883, "eoi_token_id": 258882, "image_token_id": 258880,
    "tie_word_embeddings": True, "video_token_id": 258884,
    "text_config": {
        "attention_bias": False, "attention_k_eq_v": True, "enable_moe_block": False,
        "final_logit_softcapping": 30.0, "global_head_dim": 512, "head_dim": 256,
        "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 3840,
        "hidden_size_per_layer_input": 0, "intermediate_size": 15360,
        "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 8,
        "max_position_embeddings": 262144, "model_type": "gemma4_unified_text",
        "moe_intermediate_size": None, "num_attention_heads": 16, "num_experts": None,
        "num_global_key_value_heads": 1, "num_hidden_layers": 48, "num_key_value_heads": 8,
        "num_kv_shared_layers": 0, "pad_token_id": 0, "rms_norm_eps": 1e-06,
        "rope_parameters": _GEMMA4_ROPE, "sliding_window": 1024, "tie_word_embeddings": True,
        "top_k_experts": None, "use_bidirectional_attention": "vision",
        "use_double_wide_mlp": False, "vocab_size": 262144,
        "vocab_size_per_layer_input": 262144},
    "vision_config": {"mm_embed_dim": 3840, "mm_posemb_size": 1120, "model_patch_size": 48,
                      "model_type": "gemma4_unified_vision", "num_soft_tokens": 280,
                      "output_proj_dims": 3840, "patch_size": 16, "pooling_kernel_size": 3,
                      "rms_norm_eps": 1e-06}}
# google/gemma-4-12B-it-assistant's shapes as a public Rust port's config tests transcribe
# "the real checkpoint" (the Hub file unreadable here; keys it leaves out take the class
# defaults, as they would from the file)
GEMMA_4_12B_ASSISTANT = {
    "architectures": ["Gemma4UnifiedAssistantForCausalLM"],
    "model_type": "gemma4_unified_assistant", "backbone_hidden_size": 3840,
    "use_ordered_embeddings": False, "tie_word_embeddings": True, "num_centroids": 2048,
    "text_config": {
        "hidden_size": 1024, "intermediate_size": 8192, "num_hidden_layers": 4,
        "layer_types": ["sliding_attention"] * 3 + ["full_attention"],
        "num_attention_heads": 16, "num_key_value_heads": 8, "num_global_key_value_heads": 1,
        "head_dim": 256, "global_head_dim": 512, "attention_k_eq_v": True,
        "sliding_window": 1024, "rms_norm_eps": 1e-06, "vocab_size": 262144,
        "final_logit_softcapping": None, "num_kv_shared_layers": 4,
        "rope_parameters": _GEMMA4_ROPE}}

PUBLISHED_CONFIGS = {
    # active: 40 layers x 15 idle experts of 3 x 2048 x 2048 (the skip expert has no weights)
    "Zyphra/ZAYA1-8B": (ZAYA1_8B, 8_840_488_784, 1_290_741_584),
    # active: 28 layers x 58 idle experts of 3 x 2560 x 1664
    "rhymes-ai/Aria (text_config)": (ARIA_TEXT, 24_869_091_840, 4_115_151_360),
    # the text decoder MllamaForCausalLM builds (AutoModelForCausalLM on the wrapper)
    "meta-llama/Llama-3.2-11B-Vision": (LLAMA32_11B_VISION, 9_775_192_080, 9_775_192_080),
    "BAAI/Emu3-Gen": (EMU3_GEN, 8_492_011_520, 8_492_011_520),
    # active: 50 layers x 378 idle experts of 3 x 2560 x 512 (the card's 3.46B active is
    # 3,457,551,360 without the embedding; its 78B total)
    "Aleph-Alpha/Kolibri-1": (KOLIBRI_1, 78_103_055_360, 3_785_231_360),
    # the text decoder alone (the checkpoints' MobileNet-V5 and audio towers are not counted);
    # dense: every parameter active, the per-layer table's one row a token included
    "google/gemma-3n-E2B": (GEMMA_3N_E2B, 4_435_182_688, 4_435_182_688),
    "google/gemma-3n-E4B": (GEMMA_3N_E4B, 6_835_235_568, 6_835_235_568),
    # the text decoder (the wrapper's raw-patch and audio embedders beside it: see below);
    # dense, all active
    "google/gemma-4-12B": (GEMMA_4_12B, 11_907_350_272, 11_907_350_272),
    "google/gemma-4-12B (text_config)": (GEMMA_4_12B["text_config"], 11_907_350_272,
                                         11_907_350_272),
    "google/gemma-4-12B-it-assistant": (GEMMA_4_12B_ASSISTANT, 422_856_960, 422_856_960),
    # active: 57 MoE layers x 124 idle experts of 3 x 6144 x 3072
    "MiniMaxAI/MiniMax-M3": (MINIMAX_M3, 426_174_565_632, 25_962_466_560),
    "deepseek-ai/DeepSeek-V4-Flash": (DEEPSEEK_V4_FLASH, 284_332_230_231, 13_799_622_231),
    # active: every choice a real expert (28 layers x 500 idle of 3 x 6144 x 2048)
    "meituan-longcat/LongCat-Flash-Chat": (LONGCAT_FLASH_CHAT, 560_664_958_976,
                                           32_182_654_976),
    # active: 27 MoE layers x 144 idle experts of 3 x 2048 x 512
    "openbmb/MiniCPM5-15B-A2.5B": (MINICPM5_15B, 15_002_552_320, 2_771_961_856),
    "moonshotai/Kimi-Linear-48B-A3B-Instruct": (KIMI_LINEAR_48B, 49_122_675_072,
                                                3_484_453_248),
    "MiniMaxAI/MiniMax-Text-01-hf": (MINIMAX_TEXT_01, 456_089_655_296, 48_403_306_496),
    "XiaomiMiMo/MiMo-V2-Flash": ({
        "model_type": "mimo_v2_flash", "vocab_size": 152576, "hidden_size": 4096,
        "num_hidden_layers": 48, "num_attention_heads": 64, "num_key_value_heads": 4,
        "head_dim": 192, "v_head_dim": 128, "swa_num_attention_heads": 64,
        "swa_num_key_value_heads": 8, "swa_head_dim": 192, "swa_v_head_dim": 128,
        "partial_rotary_factor": 0.334, "rope_theta": 5000000, "swa_rope_theta": 10000,
        "sliding_window": 128, "sliding_window_size": 128,
        "hybrid_layer_pattern": [int(not full) for full in MIMO_FULL],
        "moe_layer_freq": [int(i != 0) for i in range(48)],
        "add_swa_attention_sink_bias": True, "add_full_attention_sink_bias": False,
        "intermediate_size": 16384, "n_routed_experts": 256, "num_experts_per_tok": 8,
        "moe_intermediate_size": 2048, "routed_scaling_factor": None, "scoring_func": "sigmoid",
        "topk_method": "noaux_tc", "n_group": 1, "norm_topk_prob": True,
        "layernorm_epsilon": 1e-5, "attention_value_scale": 0.707},
        308_778_768_832, 15_445_924_288),
    "upstage/Solar-Open-100B": ({
        "model_type": "solar_open", "partial_rotary_factor": 1.0, "hidden_size": 4096,
        "num_hidden_layers": 48, "num_attention_heads": 64, "head_dim": 128,
        "num_key_value_heads": 8, "vocab_size": 196608, "intermediate_size": 10240,
        "moe_intermediate_size": 1280, "rms_norm_eps": 1e-05, "rope_theta": 1000000,
        "max_position_embeddings": 131072, "n_routed_experts": 128, "n_shared_experts": 1,
        "norm_topk_prob": True, "routed_scaling_factor": 1.0, "num_experts_per_tok": 8,
        "tie_word_embeddings": False, "first_k_dense_replace": 0,
        "rope_scaling": {"type": "yarn", "factor": 2.0,
                         "original_max_position_embeddings": 65536}},
        102_651_793_408, 12_054_827_008),
}


# published configs of types zoo has since built: the same figures, of the built model
BUILT_SINCE = {"openbmb/MiniCPM5-15B-A2.5B", "upstage/Solar-Open-100B"}


@pytest.mark.parametrize(("repo", "published"), PUBLISHED_CONFIGS.items())
def test_published_configs_of_counted_types(repo, published):
    from zoo.architectures import spec_from_config

    config, total, active = published
    spec = spec_from_config(config)
    # counted, not built: said wherever the figure is shown
    assert bool(spec.counted_only) == (repo not in BUILT_SINCE)
    count = zoo.count_params(spec)
    assert (count.total, count.active_by("all")) == (total, active)


# published config.json files of types zoo builds, transcribed likewise, with transformers
# 5.25's meta-device count (GLM-4.7-Flash: vLLM's glm4_moe_lite config test; Apertus-8B:
# ollama's Apertus parse test, whose qk_norm and post_norm keys are not ApertusConfig's and
# change nothing)
PUBLISHED_BUILT = {
    "zai-org/GLM-4.7-Flash": ({
        "model_type": "glm4_moe_lite", "architectures": ["Glm4MoeLiteForCausalLM"],
        "vocab_size": 154880, "hidden_size": 2048, "intermediate_size": 10240,
        "moe_intermediate_size": 1536, "num_hidden_layers": 47, "num_attention_heads": 20,
        "num_key_value_heads": 20, "hidden_act": "silu", "rms_norm_eps": 1e-5,
        "attention_bias": False, "max_position_embeddings": 202752, "rope_theta": 1_000_000.0,
        "rope_scaling": None, "partial_rotary_factor": 1.0, "q_lora_rank": 768,
        "kv_lora_rank": 512, "qk_nope_head_dim": 192, "qk_rope_head_dim": 64,
        "v_head_dim": 256, "n_routed_experts": 64, "n_shared_experts": 1,
        "num_experts_per_tok": 4, "norm_topk_prob": True, "routed_scaling_factor": 1.8,
        "n_group": 1, "topk_group": 1, "topk_method": "noaux_tc", "first_k_dense_replace": 1,
        "tie_word_embeddings": False}, 29_943_390_976, 3_896_763_136),
    "swiss-ai/Apertus-8B": ({
        "architectures": ["ApertusForCausalLM"], "model_type": "apertus",
        "hidden_size": 4096, "intermediate_size": 21504, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 65536,
        "rope_theta": 12000000, "rope_scaling": {
            "factor": 8, "high_freq_factor": 4, "low_freq_factor": 1,
            "original_max_position_embeddings": 8192, "rope_type": "llama3", "type": "llama3"},
        "hidden_act": "xielu", "qk_norm": True, "post_norm": False, "attention_bias": False,
        "mlp_bias": False, "tie_word_embeddings": False, "rms_norm_eps": 1e-5,
        "vocab_size": 131072}, 8_053_338_176, 8_053_338_176),
}


@pytest.mark.parametrize(("repo", "published"), PUBLISHED_BUILT.items())
def test_published_configs_of_built_types(repo, published):
    from zoo.architectures import spec_from_config

    config, total, active = published
    spec = spec_from_config(config)
    assert not spec.counted_only
    count = zoo.count_params(spec)
    assert (count.total, count.active_by("all")) == (total, active)
    assert zoo.create_model(spec, device="meta").num_params() == total


def test_mamba_130m_is_built_at_its_count():
    """Mamba is built now: state-spaces/mamba-130m-hf's config.json (its mamba_ssm keys d_inner,
    d_model, n_layer, rms_norm, ssm_cfg left in, which transformers ignores) builds on meta at
    transformers' 129,135,360."""
    import torch

    from zoo.architectures import spec_from_config
    from zoo.model.decoder import Model

    spec = spec_from_config(MAMBA_130M)
    assert not spec.counted_only
    with torch.device("meta"):
        built = sum(p.numel() for p in Model(spec).parameters())
    assert built == zoo.count_params(spec).total == 129_135_360


def test_gemma_4_12b_whole_checkpoint_and_cache():
    """The whole Gemma4UnifiedForConditionalGeneration is 11,959,730,176 as transformers builds
    it: the decoder, the raw-patch embedder's 49,922,304 and the audio projection's 2,457,600;
    the Hub's BF16 figure, 11,959,730,224, is 48 more: each layer's layer_scalar, a buffer the
    checkpoint stores. 40 sliding layers cache 8 kv heads of 256, the 8 global ones one head of
    512 (its keys are its values' projection too, both cached)."""
    from zoo.architectures import spec_from_config

    spec = spec_from_config(GEMMA_4_12B)
    count = zoo.count_params(spec)
    assert spec.part_of and spec.rest_params == 49_922_304 + 2_457_600
    assert count.total + spec.rest_params == 11_959_730_176 == 11_959_730_224 - 48
    assert count.kv_cache_bytes(1, "bf16") == (40 * 2 * 8 * 256 + 8 * 2 * 512) * 2
    assert count.kv_cache_bytes(4096) == (40 * 2 * 8 * 256 * 1024 + 8 * 2 * 512 * 4096) * 2


def _assistant(text: dict | None = None, **top: object) -> dict:
    return {**GEMMA_4_12B_ASSISTANT, **top,
            "text_config": {**GEMMA_4_12B_ASSISTANT["text_config"], **(text or {})}}


_ALTERNATING = {"layer_types": ["sliding_attention", "full_attention"] * 2}


# each variant's count as transformers 5.25 builds it on the meta device
@pytest.mark.parametrize(("config", "total", "kv_bytes"), [
    (_assistant(tie_word_embeddings=False), 691_292_416, 0),  # the wrapper's key ties the head
    (_assistant(use_ordered_embeddings=True, num_centroids=1024), 423_905_536, 0),
    (_assistant({"num_kv_shared_layers": 0}), 422_856_960, 0),  # 0 means all, as the class says
    # two layers of its own keys and values (sliding 8 x 256, full 1 x 512), two reusing them
    (_assistant({"num_kv_shared_layers": 2, **_ALTERNATING}), 435_965_184,
     (2 * 8 * 256 + 2 * 512) * 2),
    (_assistant({"use_double_wide_mlp": True}), 523_520_256, 0),
    (_assistant(backbone_hidden_size=2560), 418_924_800, 0),
])
def test_gemma_4_assistant_variants(config, total, kv_bytes):
    """The assistant attends to the target's keys and values, keeping none of its own."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config(config))
    assert (count.total, count.kv_cache_bytes(1, "bf16")) == (total, kv_bytes)


@pytest.mark.parametrize(("change", "whole"), [
    ({"audio_config": None}, 11_957_272_576),
    ({"tie_word_embeddings": False, "audio_config": {"audio_embed_dim": 320},
      "vision_config": {"patch_size": 14, "pooling_kernel_size": 2, "mm_embed_dim": 1024,
                        "mm_posemb_size": 512, "output_proj_dims": 1024}}, 12_922_611_040),
])
def test_gemma_4_unified_wrapper_variants(change, whole):
    """transformers' whole count of the wrapper with other embedders (or none) and its own key
    untying the head."""
    from zoo.architectures import spec_from_config

    spec = spec_from_config({**GEMMA_4_12B, **change})
    assert zoo.count_params(spec).total + spec.rest_params == whole


# transformers 5.25's meta-device counts of a small Gemma4ForConditionalGeneration whose own
# tie_word_embeddings and its text_config's disagree: the wrapper's decides
@pytest.mark.parametrize(("tie", "text_tie", "total"), [(False, True, 4_288_296),
                                                        (True, False, 4_280_104)])
def test_gemma4_wrapper_ties_its_head_by_its_own_key(tie, text_tie, total):
    from zoo.architectures import spec_from_config

    text = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
            "global_head_dim": 32, "vocab_size": 128, "hidden_size_per_layer_input": 8,
            "tie_word_embeddings": text_tie}
    config = {"model_type": "gemma4", "tie_word_embeddings": tie, "text_config": text}
    assert zoo.count_params(spec_from_config(config)).total == total


def test_aria_is_the_papers_24_9b_with_3_6b_active_and_a_25_3b_checkpoint():
    """Aria's text decoder is the paper's 24.9B (24.87B with embedding and head); its active
    figure without the embedding and head is 3.60B, above the paper's 3.5B per text token
    (its 3.86B with the head). The whole AriaForConditionalGeneration is 25.31B as transformers
    builds it (the blog's 25.3B): the Idefics3 tower's 417,792,240 and the projector's
    20,427,136 beside the decoder. 28 layers cache 20 keys and values of 128 a token."""
    from zoo.architectures import spec_from_config

    spec = spec_from_config(ARIA)
    count = zoo.count_params(spec)
    assert count.total == 24_869_091_840 and spec.part_of
    assert count.total + spec.rest_params == 25_307_311_216
    assert round(count.active_by("no_embedding_no_head") / 1e7) == 360
    assert count.kv_cache_bytes(1, "bf16") == 28 * 2 * 20 * 128 * 2


@pytest.mark.parametrize(("tie", "text_tie", "whole"), [
    (None, True, 319_248), (True, False, 311_056), (False, True, 319_248)])
def test_aria_wrapper_ties_its_head_as_its_own_key_says(tie, text_tie, whole):
    """AriaForConditionalGeneration ties its head to the text embedding by the wrapper's
    tie_word_embeddings (false by default), not text_config's (transformers 5.25's counts)."""
    from zoo.architectures import spec_from_config

    config = {"model_type": "aria", "text_config": {
        "vocab_size": 128, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "moe_num_experts": 4,
        "moe_topk": 2, "tie_word_embeddings": text_tie},
        "vision_config": {"hidden_size": 32, "num_hidden_layers": 2, "intermediate_size": 40,
                          "image_size": 56, "patch_size": 14, "num_attention_heads": 2},
        **({} if tie is None else {"tie_word_embeddings": tie})}
    spec = spec_from_config(config)
    assert zoo.count_params(spec).total + spec.rest_params == whole


def test_minimax_text_01_is_the_papers_456b_with_45_9b_active():
    """The paper's active figure leaves out the embedding and the head (45.94B); its lightning
    layers keep a 128 x 128 key-value matrix per head whatever the context, its 10 softmax
    layers 8 kv heads of 128 per token."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config(MINIMAX_TEXT_01))
    assert round(count.total / 1e9) == 456
    assert round(count.active_by("no_embedding_no_head") / 1e8) == 459
    assert count.recurrent_state_bytes("bf16") == 70 * 64 * 128 * 128 * 2
    assert count.kv_cache_bytes(1, "bf16") == 10 * 2 * 8 * 128 * 2


def test_longcat_flash_is_the_cards_560b_with_18_6b_to_31_3b_active():
    """LongCat-Flash's 12 choices a token may all be zero experts (identity, no weights) or
    all real ones: zoo's active figure is the most (12 real experts a layer), the least is
    everything but the experts. The card's 18.6B-31.3B leaves out the embedding (18.69B and
    31.38B, cut to one decimal). 56 latent-attention sublayers cache 512 + 64 values a token."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config(LONGCAT_FLASH_CHAT))
    assert round(count.total / 1e9) == 561  # the card's "560B"
    most = count.active_by("no_embedding")
    least = most - 28 * 12 * 3 * 6144 * 2048
    assert (most // 10**8, least // 10**8) == (313, 186)
    assert count.router == 28 * (512 + 256) * 6144  # the zero experts are scored too
    assert count.kv_cache_bytes(1, "bf16") == 56 * (512 + 64) * 2


def test_minicpm5_is_the_cards_15b_with_2_5b_active():
    """MiniCPM5-15B-A2.5B's card counts the active parameters without the embedding."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config(MINICPM5_15B))
    assert round(count.total / 1e9) == 15
    assert round(count.active_by("no_embedding") / 1e8) == 25


def test_kimi_linear_48b_is_the_cards_48b_with_3b_active():
    """The card's 48B is the total without embedding and head (48.37B; 49.12B with them), its
    3B active per token without the embedding (3.11B; 2.73B without the head too). Its 20 KDA
    layers keep 32 heads of 128 x 128 and the last 3 inputs of their convolution over q, k
    and v (3 x 4096) whatever the context; its 7 latent layers the 512-wide latent and the
    64-wide shared key per token."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config(KIMI_LINEAR_48B))
    embedding = 163840 * 2304
    assert round((count.total - 2 * embedding) / 1e9) == 48
    assert round(count.active_by("no_embedding") / 1e9) == 3
    assert count.recurrent_state_bytes("bf16") == 20 * (32 * 128 * 128 + 3 * 4096 * 3) * 2
    assert count.kv_cache_bytes(1, "bf16") == 7 * (512 + 64) * 2


def test_minimax_m3_is_the_cards_428b_with_23b_active():
    """The card's ~23B activated leaves out the embedding and the head (23.50B; 24.73B with the
    head); its ~428B counts the vision tower and the multi-token-prediction modules beside the
    text decoder's 426.17B. Its 57 sparse layers cache the indexer's one 128-wide key a token
    beside their 4 kv heads of 128, the 3 full-attention layers the heads alone."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config(MINIMAX_M3))
    assert count.active_by("no_embedding_no_head") // 10**8 == 235  # the card's ~23B
    assert count.active_by("no_embedding") // 10**8 == 247
    assert round(count.total / 1e9) == 426
    assert count.kv_cache_bytes(1, "bf16") == (60 * 2 * 4 * 128 + 57 * 128) * 2
    indexer = 57 * 6144 * (4 + 1) * 128  # its norms are with the norms
    assert count.attention == 60 * 6144 * (2 * 64 * 128 + 2 * 4 * 128) + indexer


@pytest.mark.parametrize(("changes", "key"), [
    ({"n_shared_experts": 2}, "n_shared_experts"),
    ({"qk_norm_type": "per_layer"}, "qk_norm_type"),
    ({"scoring_func": "softmax"}, "scoring_func"),
    ({"first_k_dense_replace": 1}, "first_k_dense_replace"),
    ({"sparse_attention_config": {**MINIMAX_M3["sparse_attention_config"],
                                  "sparse_disable_index_value": [0] * 60}},
     "sparse_disable_index_value"),
    ({"layer_types": ["full_attention"] * 59}, "layer_types")])
def test_minimax_m3_refuses_what_its_class_would_not_build(changes, key):
    """The remote code's keys that would build what MiniMaxM3VLForCausalLM does not (a second
    shared expert, QK-norm over the projection, an index-value path ...) are refused by name."""
    from zoo.architectures import UnsupportedConfigError, spec_from_config

    with pytest.raises(UnsupportedConfigError, match=key):
        spec_from_config({**MINIMAX_M3, **changes})


def test_mamba_state_is_constant_in_context():
    """Mamba-130M: 24 layers, each a 1536 x 16 scan state and its 4-tap convolution's last 3
    inputs over 1536 channels; no keys at any context."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config(MAMBA_130M))
    assert count.recurrent_state_bytes("bf16") == 24 * (1536 * 16 + 3 * 1536) * 2
    assert count.kv_cache_bytes(100_000, "bf16") == 0
    assert count.attention_flops_per_token(10) == count.attention_flops_per_token(10_000) \
        == 24 * 6 * 1536 * 16


def test_xlstm_7b_keeps_a_matrix_memory_per_head():
    """xLSTMConfig's defaults are NX-AI/xLSTM-7b's shapes (its docstring): 32 blocks of 4096,
    8 heads, each keeping a 256 x 512 memory, a normaliser of 256 and a stabiliser, whatever
    the context; 6,865,424,896 parameters as transformers builds them."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config({"model_type": "xlstm"}))
    assert count.total == 6_865_424_896
    assert count.recurrent_state_bytes("fp32") == 4 * 32 * 8 * (256 * 512 + 256 + 1)
    assert count.kv_cache_bytes(100_000, "bf16") == 0


def test_deepseek_v4_flash_is_284b_with_13b_active_and_a_compressed_cache():
    """DeepSeek's 284B and 13B activated: 13.27B without the embedding, 12.74B without the
    head too. Per token a layer keeps its window's one shared key = value head (512) and, per
    4 tokens (CSA, 21 layers) a 512-wide entry and a 128-wide indexer key, per 128 tokens
    (HCA, 20 layers) a 512-wide entry; the two window-only layers nothing more."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config(DEEPSEEK_V4_FLASH))
    assert round(count.total / 1e9) == 284
    assert round(count.active_by("no_embedding") / 1e9) == 13
    context = 1_048_576
    held = 43 * 128 * 512 + 21 * context // 4 * (512 + 128) + 20 * context // 128 * 512
    assert count.kv_cache_bytes(context, "bf16") == 2 * held


def test_zamba_shared_block_is_counted_once_and_caches_per_invocation():
    """ZambaConfig's defaults (Zamba-7B-v1's shapes, its docstring says): 76 Mamba layers, the
    one shared block run before 13 of them; its weights once (7,232,490,496 in all as
    transformers builds them), its keys once per invocation: 13 x 16 kv heads of
    2 x 3712 / 16 = 464, keys and values."""
    from zoo.architectures import spec_from_config

    spec = spec_from_config({"model_type": "zamba"})
    count = zoo.count_params(spec)
    assert (spec.shared_blocks, spec.shared_invocations) == (1, 13)
    assert count.total == 7_232_490_496
    assert count.kv_cache_bytes(1, "bf16") == 13 * 2 * 16 * 464 * 2
    # a token passes through the shared block's matrices at each invocation
    assert count.matmul_params > count.total - spec.vocab_size * spec.d_model


def test_zyphra_fork_format_of_zamba2_is_refused():
    """Zamba2-7B's config as Zyphra's pre-transformers fork wrote it (vendored by NX-AI's
    mlstm_kernels benchmarks as zamba_config): transformers' Zamba2Config reads none of
    ffn_hidden_size, lora_rank, state_size ..., and would build its defaults instead."""
    from zoo.architectures import UnsupportedConfigError, spec_from_config

    fork = {"model_type": "zamba2", "architectures": ["Zamba2ForCausalLM"],
            "hidden_size": 3584, "ffn_hidden_size": 14336, "lora_rank": 128,
            "use_shared_block_lora": True, "state_size": 64, "num_mem_blocks": 2}
    with pytest.raises(UnsupportedConfigError, match="ffn_hidden_size"):
        spec_from_config(fork)


def test_llama_3_2_11b_vision_is_the_cards_10_6b_and_caches_only_the_text_layers():
    from zoo.architectures import spec_from_config

    spec = spec_from_config(LLAMA32_11B_VISION)
    count = zoo.count_params(spec)
    # the whole MllamaForConditionalGeneration as transformers 5.25 builds it on the meta
    # device: the card's "11B (10.6B)"
    assert count.total + spec.rest_params == 10_670_220_835
    assert spec.layer_kinds.count("cross") == 8
    # 32 self-attention layers cache 8 kv heads of 128 per token; the 8 cross-attention
    # layers cache the image's keys, once per image, not per token
    assert count.kv_cache_bytes(1, "bf16") == 32 * 2 * 8 * 128 * 2
    # the embedding's 8 extra rows, the head's vocab_size
    assert count.token_embedding == (128256 + 8) * 4096 and count.head == 128256 * 4096


def test_gemma_3n_text_decoders_beside_googles_figures():
    """E2B's text decoder: 4.44B, of which 2.01B the per-layer table and 0.54B the tied
    embedding: 1.88B without either (Google's "effective" 1.91B); E4B's 6.84B, 3.95B without
    them. AltUp and LAuReL: 2 x 3 projections of 2048 x 2048, and per layer the router, the
    coefficients, the output scale and the rank-64 branch; the shared layers have no k/v and
    cache nothing: 20 of E2B's 30 layers keep keys and values. The wrapper config counts the
    same decoder and says what it leaves out."""
    from zoo.architectures import spec_from_config

    d, n = 2048, 4
    e2b, e4b = (zoo.count_params(spec_from_config(c)) for c in (GEMMA_3N_E2B, GEMMA_3N_E4B))
    assert e2b.token_embedding == 262_400 * d + 262_144 * 30 * 256
    assert (e2b.non_embedding, e4b.non_embedding) == (1_884_521_568, 3_949_030_128)
    per_layer = d * n + n ** 3 + n ** 2 + d + 2 * d * 64 + 2 * d * 256
    assert e2b.extras == 2 * (n - 1) * d * d + 30 * per_layer + d * 30 * 256
    made, shared = e2b.layers[19], e2b.layers[29]  # both global
    assert made.attention - shared.attention == 2 * d * 2 * 256
    assert e2b.kv_cache_bytes(1, "bf16") == 2 * 2 * 2 * 256 * 20
    wrapper = spec_from_config({"model_type": "gemma3n", "text_config": GEMMA_3N_E2B})
    assert zoo.count_params(wrapper).total == e2b.total
    assert "without its vision and audio towers" in wrapper.part_of


def test_beam_defaults_are_the_501b_with_23b_active_its_name_states():
    """No Beam config.json could be read here (the Hub is out of reach and no public repository
    vendors reflection/Beam-1.0-501B-A23B's); BeamConfig's defaults, which its docstring names
    after that checkpoint, build 501,267,599,808 parameters on the meta device (transformers
    5.25), and a token goes through 8 of 256 experts in each of the 49 MoE layers: 23.43B with
    the embedding and the head (22.65B without the embedding), the name's 501B and A23B. Its
    9 full-attention layers keep every key; the 43 sliding ones 512 tokens' worth."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config({"model_type": "beam"}))
    assert count.total == 501_267_599_808
    assert count.active_by("all") == count.total - 49 * 248 * 3 * 5120 * 2560 == 23_431_516_608
    assert round(count.active_by("no_embedding") / 1e9) == 23
    per_token = 2 * 8 * 128 * 2  # keys and values of 8 heads of 128, bf16
    assert count.kv_cache_bytes(1, "bf16") == 52 * per_token
    assert count.kv_cache_bytes(32768, "bf16") == (9 * 32768 + 43 * 512) * per_token


def test_ergo_defaults_count_each_experts_own_norm_as_active_with_it():
    """ErgoConfig's defaults (its docstring names Amazon-FMR/Ergo, whose config.json could not
    be read here) build 1,105,550,917,632 parameters (transformers 5.25, meta device); a token
    uses 8 of 256 experts in 63 layers, each expert two 8192 x 4096 matrices and an 8192-wide
    output norm of its own. Heads are hidden_size / num_attention_heads wide."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config({"model_type": "ergo"}))
    assert count.total == 1_105_550_917_632
    idle = 63 * 248 * (2 * 8192 * 4096 + 8192)
    assert count.active_by("all") == count.total - idle == 56_914_034_688
    assert count.kv_cache_bytes(1, "bf16") == 64 * 2 * 8 * 128 * 2


@pytest.mark.parametrize(("config", "key"), [
    ({"model_type": "beam", "attention_bias": True}, "attention_bias"),
    ({"model_type": "beam", "rope_parameters": {"rope_type": "default", "rope_theta": 1e4}},
     "rope_parameters"),
    ({"model_type": "beam", "num_hidden_layers": 3, "mlp_layer_types": ["dense"] * 2},
     "mlp_layer_types"),
    ({"model_type": "ergo", "global_attention_every_n_layers": 0},
     "global_attention_every_n_layers"),
    ({"model_type": "ergo", "num_hidden_layers": 2, "layer_types": ["chunked_attention"] * 2},
     "layer_types")])
def test_beam_and_ergo_refuse_what_their_classes_would_not_build(config, key):
    from zoo.architectures import UnsupportedConfigError, spec_from_config

    with pytest.raises(UnsupportedConfigError, match=key):
        spec_from_config(config)


def test_kolibri_1_is_the_cards_78b_with_3_46b_active_and_ten_layers_of_growing_cache():
    """Kolibri 1's card: 78B, 3.46B active (without the embedding, the head included); only
    its 10 full-attention layers cache a key and value per token past the 513-token window
    of the other 40 (4 kv heads of 128)."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config(KOLIBRI_1))
    assert round(count.total / 1e9) == 78
    assert round(count.active_by("no_embedding") / 1e9, 2) == 3.46
    per_token = 2 * 4 * 128 * 2  # k and v, bf16
    grown = count.kv_cache_bytes(2000, "bf16") - count.kv_cache_bytes(1000, "bf16")
    assert grown == 10 * 1000 * per_token
    assert count.kv_cache_bytes(513, "bf16") == 50 * 513 * per_token


# Hy4-preview's shapes as a vLLM fork's model note, an MLX port's defaults and a vLLM model
# audit's config checks state them alike (the Hub's config.json unreadable here and vendored
# whole nowhere found, so not among PUBLISHED_CONFIGS); the rest is HYV4Config's defaults,
# which those sources agree with (one dense layer first, indexers on layer 0 and every fourth
# from layer 1). transformers 5.25 builds 769,907,389,085 from this dict on the meta device,
# 49,057,526,429 a token (77 MoE layers x 248 idle experts of 3 x 6144 x 2048)
HY4_PREVIEW_SHAPES = {
    "model_type": "hy_v4", "vocab_size": 120832, "hidden_size": 6144,
    "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 78,
    "num_attention_heads": 64, "q_lora_rank": 2048, "kv_lora_rank": 512,
    "qk_nope_head_dim": 192, "qk_rope_head_dim": 64, "v_head_dim": 256,
    "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8,
    "index_topk": 2048, "index_head_dim": 128, "index_n_heads": 32, "hc_mult": 4,
    "max_position_embeddings": 1048576, "enable_ihc": True, "gated_mla": True,
    "gating_type": "elementwise", "learnable_sink": True}


def test_hy4_preview_shapes_are_770b_with_49b_active():
    """Tencent's 770B/49B: the total and the active figure with embedding and head as
    transformers builds them. Per layer the attention carries its gate (6144 x 64 x 256) and
    64 sinks; 21 of 78 layers an indexer; each layer two iHC mixings of 8 x 24576 with 8 biases
    and 2 scales (196,618), the head one of 4 x 24576 with 4 and 1 (98,309). Every layer caches
    the 512-wide latent and the 64-wide rotated key a token, the 21 indexed layers also the
    indexer's 128-wide key."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config(HY4_PREVIEW_SHAPES))
    assert (count.total, count.active) == (769_907_389_085, 49_057_526_429)
    assert (round(count.total / 1e9), round(count.active / 1e9)) == (770, 49)
    assert count.extras == 156 * 196_618 + 98_309
    indexer = 2048 * 32 * 128 + 6144 * 128 + 6144 * 32
    latent = (6144 * 2048 + 2048 * 64 * 256 + 6144 * 576 + 512 * 64 * 448 + 64 * 256 * 6144)
    assert count.attention == 78 * (latent + 6144 * 64 * 256 + 64) + 21 * indexer
    assert count.kv_cache_bytes(1, "bf16") == (78 * (512 + 64) + 21 * 128) * 2


@pytest.mark.parametrize(("changes", "key"), [
    ({"gated_mla": False}, "gated_mla"),
    ({"gating_type": "headwise"}, "gating_type"),
    ({"learnable_sink": False}, "learnable_sink"),
    ({"enable_ihc": False}, "enable_ihc"),
    ({"attention_bias": True}, "attention_bias"),
    ({"indexer_types": ["shared"] + ["full"] * 77}, "indexer_types"),
    ({"indexer_types": ["full"] * 77}, "indexer_types"),
    ({"mlp_layer_types": ["dense", "moe"] * 39}, "mlp_layer_types")])
def test_hy_v4_refuses_what_its_class_would_not_build(changes, key):
    """The remote code's switches off describe checkpoints without the gate, the sinks or iHC,
    which HYV4ForCausalLM builds whatever they say; a first layer without an indexer has
    none to reuse; per-layer lists must give a known kind for each layer."""
    from zoo.architectures import UnsupportedConfigError, spec_from_config

    with pytest.raises(UnsupportedConfigError, match=key):
        spec_from_config({**HY4_PREVIEW_SHAPES, **changes})


def test_hyper_connection_forms_each_have_a_closed_form():
    from zoo.accounting.compressed import HYPER_CONNECTION_MIXINGS
    from zoo.spec.vocabulary import HYPER_CONNECTION_FORMS

    assert set(HYPER_CONNECTION_MIXINGS) == set(HYPER_CONNECTION_FORMS)


# BailingHybridConfig's defaults (named after inclusionAI/Ling-3.0-Flash; no released
# config.json could be read: the Hub is unreachable and no public repository vendors one).
# transformers 5.25 builds 124,414,191,072 parameters from them on the meta device
# (BailingHybridForCausalLM, nothing tied); a token uses 8 of the 512 experts of 2560 x 768 x 3
# on each of the 40 sparse layers: 124,414,191,072 - 40 x 504 x 5,898,240 = 5,505,672,672
LING3_DEFAULTS = {"model_type": "bailing_hybrid", "architectures": ["BailingHybridForCausalLM"]}


def test_ling3_defaults_count_as_transformers_builds_them():
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config(LING3_DEFAULTS))
    assert count.total == 124_414_191_072
    assert count.active == 124_414_191_072 - 40 * 504 * 3 * 2560 * 768 == 5_505_672_672
    # 35 kda layers (4096 = 32 heads x 128 wide: q, k, v, both full-rank gates and o, the write
    # strength, the convolution, dt_bias and A_log) and 7 gated latent ones (q, the latent, its
    # up-projection, o and the gate per head); their norms apart
    kda = 6 * 2560 * 4096 + 32 * 2560 + 3 * 4096 * 4 + 4096 + 32
    latent = 2560 * 32 * 192 + 2560 * 576 + 512 * 32 * 256 + 4096 * 2560 + 2560 * 32
    assert count.attention == 35 * kda + 7 * latent
    # a token's state: 35 x (32 heads of 128 x 128, and 3 of the convolution's 4 inputs over
    # q, k and v), and 512 + 64 latent values per latent layer
    assert count.recurrent_state_bytes("fp32") == 4 * 35 * (32 * 128 * 128 + 3 * 3 * 4096)
    assert count.kv_cache_bytes(1, "bf16") == 2 * 7 * (512 + 64)


@pytest.mark.parametrize(("changes", "key"), [
    ({"no_kda_lora": False}, "no_kda_lora"),
    ({"gated_attention_proj_granularity_type": "element_wise"},
     "gated_attention_proj_granularity_type"),
    ({"use_qk_norm": True}, "use_qk_norm"),
    ({"moe_shared_expert_intermediate_size": 1024}, "moe_shared_expert_intermediate_size"),
    ({"attention_bias": True}, "attention_bias"),
    ({"layer_types": ["sliding_attention"] * 42}, "layer_types")])
def test_ling3_refuses_what_its_class_would_not_build(changes, key):
    """The remote code's switches describe checkpoints (low-rank kda gates, a gate per value
    dim, QK-norm, a shared MLP of its own width) that BailingHybridForCausalLM does not build."""
    from zoo.architectures import UnsupportedConfigError, spec_from_config

    with pytest.raises(UnsupportedConfigError, match=key):
        spec_from_config({**LING3_DEFAULTS, **changes})


def test_kolibri_1_1_defaults_share_keys_across_the_depth_and_cap_the_indexed_layers():
    """No Kolibri 1.1 config.json could be read here (the Hub is out of reach and no public
    repository vendors Aleph-Alpha/Kolibri-1.1's); Kolibri1_1Config's defaults, which its
    docstring calls Kolibri 1.1's layout, build 75,112,646,912 parameters on the meta device
    (transformers 5.25). A token uses 6 of 384 experts in the 48 layers after the two dense
    ones. Of the 10 indexed layers (every fifth), 6 attend to layer 4's or 29's keys and
    values with no k/v projections or key norm (2 x 2560 x 512 + 128 each) and cache nothing:
    4 layers keep every key, 40 sliding ones 513 tokens' worth. An indexed layer's query
    attends to at most 2048 + 8 + 128 keys."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config({"model_type": "kolibri1_1"}))
    assert count.total == 75_112_646_912
    assert count.active_by("all") == count.total - 48 * 378 * 3 * 2560 * 512
    per_token = 2 * 4 * 128 * 2  # k and v, bf16
    grown = count.kv_cache_bytes(2000, "bf16") - count.kv_cache_bytes(1000, "bf16")
    assert grown == 4 * 1000 * per_token
    assert count.kv_cache_bytes(513, "bf16") == 44 * 513 * per_token
    per_key = 2 * 2 * 48 * 128  # scores and weighted sum, q and v of 48 heads of 128
    assert count.attention_flops_per_token(100_000) == per_key * (40 * 513 + 10 * 2184)


@pytest.mark.parametrize(("config", "key"), [
    ({"num_hidden_layers": 60}, "kv_source_layers"),  # the default covers 10 indexed layers
    ({"num_hidden_layers": 2, "layer_types": ["sliding_attention", "full_attention"]},
     "layer_types"),
    ({"num_hidden_layers": 3, "kv_source_layers": [0, 0, 2],
      "layer_types": ["indexed_attention", "sliding_attention", "sliding_attention"]},
     "kv_source_layers"),  # a sliding layer cannot read another's keys
    ({"num_hidden_layers": 2, "kv_source_layers": [1, 1],
      "layer_types": ["indexed_attention", "indexed_attention"]},
     "kv_source_layers"),  # nor a layer a later one's
])
def test_kolibri_1_1_refuses_what_its_class_would_not_build(config, key):
    from zoo.architectures import UnsupportedConfigError, spec_from_config

    with pytest.raises(UnsupportedConfigError, match=key):
        spec_from_config({"model_type": "kolibri1_1", **config})


# GLM-5.2's config.json as a public repository's test fixture writes it out (its indexer and
# MLP schedules as comprehensions; the Hub file unreadable here, so not among
# PUBLISHED_CONFIGS), its geometry and selector schedule stated alike by a trainer's check of
# "the official model geometry" (index_topk_freq 4 from index_skip_topk_offset 3: indexers on
# the first three layers and every fourth from layer 2, 21 of 78). transformers 5.25 builds
# 743,377,000,704 from this dict on the meta device, 41,250,511,104 a token (75 MoE layers x
# 248 idle experts of 3 x 6144 x 2048)
GLM_52 = {
    "architectures": ["GlmMoeDsaForCausalLM"], "model_type": "glm_moe_dsa",
    "first_k_dense_replace": 3, "head_dim": 192, "hidden_act": "silu", "hidden_size": 6144,
    "index_head_dim": 128, "index_n_heads": 32, "index_share_for_mtp_iteration": True,
    "index_skip_topk_offset": 3, "index_topk": 2048, "index_topk_freq": 4,
    "index_topk_pattern": None,
    "indexer_types": ["shared" if max(i - 2, 0) % 4 else "full" for i in range(78)],
    "intermediate_size": 12288, "kv_lora_rank": 512, "max_position_embeddings": 1048576,
    "mlp_layer_types": ["dense" if i < 3 else "sparse" for i in range(78)],
    "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 1, "n_routed_experts": 256,
    "n_shared_experts": 1, "num_attention_heads": 64, "num_experts_per_tok": 8,
    "num_hidden_layers": 78, "num_key_value_heads": 64, "num_nextn_predict_layers": 1,
    "q_lora_rank": 2048, "qk_head_dim": 256, "qk_nope_head_dim": 192, "qk_rope_head_dim": 64,
    "rope_parameters": {"rope_theta": 8000000, "rope_type": "default"}, "v_head_dim": 256,
    "vocab_size": 154880}


def test_glm_5_2_shares_indexers_and_is_744b_with_40b_active():
    """Z.ai's 744B with 40B active (40.30B without the embedding): 21 of 78 layers run an
    indexer (32 heads of 128 from the query latent, a 128-wide key, a weight per head) and
    cache its key beside the latent and the rotated key; the other 57 reuse the last one's
    choice, with neither. The legacy keys alone (indexer_types left out) give the same."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config(GLM_52))
    assert (count.total, count.active) == (743_377_000_704, 41_250_511_104)
    assert round(count.active_by("no_embedding") / 1e9, 1) == 40.3
    indexer = 2048 * 32 * 128 + 6144 * 128 + 2 * 128 + 6144 * 32
    shared = zoo.count_params(spec_from_config({**GLM_52, "indexer_types": ["full"] * 78}))
    assert shared.total - count.total == 57 * indexer
    assert count.kv_cache_bytes(1, "bf16") == (78 * (512 + 64) + 21 * 128) * 2
    legacy = {k: v for k, v in GLM_52.items() if k != "indexer_types"}
    assert zoo.count_params(spec_from_config(legacy)).total == count.total


# Phi4MultimodalForCausalLM builds its image and audio embedders beside the Phi-3 decoder: the
# whole is transformers' meta-device count (5.25), the class's defaults and odd towers (a
# symmetric bias table, time_reduction 4, a depthwise multiplier, downsample_rate 3, channels
# that differ, an image size not a multiple of two patches, a tied head, null kv heads)
PHI4MM_ODD = {
    "model_type": "phi4_multimodal", "vocab_size": 1000, "pad_token_id": 0, "hidden_size": 96,
    "intermediate_size": 160, "num_hidden_layers": 3, "num_attention_heads": 6,
    "num_key_value_heads": None, "partial_rotary_factor": 0.75, "tie_word_embeddings": True,
    "vision_config": {"hidden_size": 48, "intermediate_size": 72, "num_hidden_layers": 2,
                      "num_attention_heads": 4, "image_size": 70, "patch_size": 14,
                      "num_channels": 4},
    "audio_config": {"hidden_size": 40, "intermediate_size": 56, "num_blocks": 2,
                     "num_attention_heads": 4, "ext_pw_out_channel": 24,
                     "depthwise_separable_out_channel": 32, "depthwise_multiplier": 2,
                     "kernel_size": 5, "input_size": 37, "time_reduction": 4,
                     "bias_max_distance": 50, "bias_symmetric": True, "nemo_conv_channels": 12,
                     "downsample_rate": 3}}


@pytest.mark.parametrize("config, whole", [({"model_type": "phi4_multimodal"}, 5_308_268_992),
                                           (PHI4MM_ODD, 549_284)])
def test_phi4_multimodal_counts_its_embedders_as_the_rest(config, whole):
    from zoo.architectures import spec_from_config

    spec = spec_from_config(config)
    assert "image and audio embedders" in spec.part_of
    assert zoo.count_params(spec).total + spec.rest_params == whole


# stepfun-ai/GOT-OCR-2.0-hf's config.json as a public Rust OCR crate's GOT-OCR 2.0 pipeline
# test transcribes it (its GOT_CONFIG_JSON, run against that snapshot): the wrapper's keys and
# text_config; its vision_config is GotOcr2VisionConfig's defaults (the crate maps SAM ViT-B's
# tensors, rel_pos_h and pos_embed among them, onto the snapshot's). The paper (arXiv
# 2409.01704) says 580M in all
GOT_OCR2 = {
    "model_type": "got_ocr2", "image_seq_length": 576, "image_token_index": 151859,
    "torch_dtype": "bfloat16",
    "text_config": {
        "model_type": "qwen2", "hidden_size": 1024, "intermediate_size": 2816,
        "num_hidden_layers": 24, "num_attention_heads": 16, "num_key_value_heads": 16,
        "vocab_size": 151860, "rope_theta": 1000000.0, "rms_norm_eps": 1e-06,
        "max_position_embeddings": 32768, "tie_word_embeddings": True}}


# (config, transformers 5.25's meta-device count of the whole model AutoModelForCausalLM
# builds, the text decoder's total and active): Fuyu-8B's shapes are FuyuConfig's defaults
# (its docstring's checkpoint, adept/fuyu-8b), the Hub's 9.41B for that checkpoint
@pytest.mark.parametrize(("config", "whole", "decoder"), [
    (GOT_OCR2, 560_528_640, 463_909_888),
    ({"model_type": "fuyu"}, 9_408_238_592, 9_397_175_296)])
def test_whole_checkpoint_wrappers(config, whole, decoder):
    from zoo.architectures import spec_from_config

    spec = spec_from_config(config)
    count = zoo.count_params(spec)
    assert spec.counted_only and spec.part_of
    assert (count.total, count.active_by("all")) == (decoder, decoder)  # dense: all active
    assert count.total + spec.rest_params == whole


# Ettin decoders' shapes (ModernBertDecoderForCausalLM): no config.json could be read here (the
# Hub is out of reach); JHU-CLSP/ettin-encoder-vs-decoder's pretraining configs
# (pretraining/configs/standard/{very_tiny,base,huge}/decoder_*.yaml, commit 496a3f42) give
# each size's layers, width, MLP width and heads beside what the class's defaults already say
# (vocab_size 50368, sliding_window 128 = local_attention, global_attn_every_n_layers 3, no
# biases, LayerNorms without bias, the first layer's attention norm skipped, embedding and
# final norms, a GELU prediction head); totals as transformers 5.25 builds them on the meta
# device, the head tied
ETTIN_DECODERS = {
    "jhu-clsp/ettin-decoder-17m": (dict(num_hidden_layers=7, hidden_size=256,
                                        intermediate_size=384, num_attention_heads=4),
                                   16_913_600),
    "jhu-clsp/ettin-decoder-150m": (dict(num_hidden_layers=22, hidden_size=768,
                                         intermediate_size=1152, num_attention_heads=12),
                                    149_655_232),
    "jhu-clsp/ettin-decoder-1b": (dict(num_hidden_layers=28, hidden_size=1792,
                                       intermediate_size=3840, num_attention_heads=28),
                                  1_031_314_112),
}


@pytest.mark.parametrize(("repo", "shapes"), ETTIN_DECODERS.items())
def test_ettin_decoders_are_the_sizes_their_names_state(repo, shapes):
    """17M, 150M and 1B as the names say; every layer has as many key heads as query heads,
    every third (the first of each three) attends to all keys, the others to 64 (local_attention
    128 halved, as the class halves it)."""
    from zoo.architectures import spec_from_config

    config, total = shapes
    count = zoo.count_params(spec_from_config({"model_type": "modernbert-decoder",
                                               "vocab_size": 50368, **config}))
    assert count.total == count.active_by("all") == total
    layers, width = config["num_hidden_layers"], config["hidden_size"]
    full = len(range(0, layers, 3))
    per_token = 2 * width * 2  # keys and values as wide as the residual, bf16
    assert count.kv_cache_bytes_per_token("bf16") == layers * per_token
    assert count.kv_cache_bytes(8192, "bf16") == (full * 8192 + (layers - full) * 64) * per_token


def test_cpm_ant_10b_defaults_are_its_released_shapes():
    """CpmAntConfig's defaults are openbmb/cpm-ant-10b's shapes, as OpenBMB/CPM-Live's own
    config/cpm-ant-10b.json states them (48 layers of 32 heads of 128, 4096 wide, dim_ff 10240,
    512 buckets, 32 segment types, 32 prompt types of 32 tokens; its vocab_size 31744 is the
    embedding's rows: transformers' 30720 plus the 1024 prompt rows). transformers 5.25 builds
    9,517,453,312 on the meta device (the name's 10B): an untied 30720-row head, the shared
    relative bias table (512 + 32^2 rows of 32 heads) and the segment embedding. Its cache holds
    the 32 prompt tokens before each sequence's own."""
    from zoo.architectures import spec_from_config

    count = zoo.count_params(spec_from_config({"model_type": "cpmant"}))
    assert count.total == count.active_by("all") == 9_517_453_312
    assert count.token_embedding == (30720 + 32 * 32) * 4096
    assert count.head == 30720 * 4096
    assert count.position_embedding == (512 + 32 * 32) * 32 + 32 * 4096
    per_token = 48 * 2 * 32 * 128 * 2  # keys and values, bf16
    assert count.kv_cache_bytes_per_token("bf16") == per_token
    assert count.kv_cache_bytes(2048, "bf16") == (2048 + 32) * per_token

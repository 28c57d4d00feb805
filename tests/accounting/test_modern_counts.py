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
    # Phi-3, Phi-4 (Phi3ForCausalLM)
    "phi-3-mini-4k": 3_821_079_552,
    "phi-3-medium-4k": 13_960_238_080,
    "phi-4": 14_659_507_200,
    # OLMo 2 (Olmo2ForCausalLM)
    "olmo-2-7b": 7_298_617_344,
    "olmo-2-13b": 13_716_198_400,
    # SmolLM2 (LlamaForCausalLM), SmolLM3 (SmolLM3ForCausalLM)
    "smollm2-360m": 361_821_120,
    "smollm2-1.7b": 1_711_376_384,
    "smollm3-3b": 3_075_098_624,
}


@pytest.mark.parametrize(("name", "total"), TRANSFORMERS_COUNTS.items())
def test_closed_form_equals_transformers(name, total):
    assert zoo.count_params(name).total == total


def test_gemma2_non_embedding_equals_the_report():
    # Gemma 2 report, Table 2: non-embedding parameters, stated exactly
    report = {"gemma-2-2b": 2_024_517_888, "gemma-2-9b": 8_324_201_984,
              "gemma-2-27b": 26_047_480_320}
    for name, non_embedding in report.items():
        assert zoo.count_params(name).non_embedding == non_embedding


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

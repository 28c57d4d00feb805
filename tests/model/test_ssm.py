"""Mamba-2's scan (zoo.model.ssm) across chunk boundaries: a prompt of several chunks, padded
or not, holds transformers' logits, and decoding one token at a time from a cached state gives
the logits of the whole prompt."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from zoo.model import ssm  # noqa: E402
from zoo.testing import hf_model, parity, tiny_spec, zoo_from_hf  # noqa: E402


def test_a_prompt_of_many_chunks_holds_transformers_logits(monkeypatch):
    spec = tiny_spec("mamba2")
    hf = hf_model(spec)
    model = zoo_from_hf(spec, hf)
    monkeypatch.setattr(ssm, "CHUNK", 3)  # 20 tokens: seven chunks, the last one short
    assert max(parity(model, hf, spec.vocab_size).values()) < 1e-4
    ids = torch.randint(0, spec.vocab_size, (2, 11), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = model(ids)
        logits, cache = model(ids[:, :7], use_cache=True)
        steps = [logits]
        for t in range(7, 11):
            logits, cache = model(ids[:, t:t + 1], past_key_values=cache, use_cache=True)
            steps.append(logits)
    assert (torch.cat(steps, 1) - whole).abs().max() < 1e-5


# mistralai/Mamba-Codestral-7B-v0.1's config.json, as published (keys transformers 5.25 no
# longer reads, rms_norm and norm_before_gate, left in)
CODESTRAL = {
    "architectures": ["Mamba2ForCausalLM"], "bos_token_id": 0, "chunk_size": 256,
    "conv_kernel": 4, "eos_token_id": 0, "expand": 2, "head_dim": 64, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.1, "layer_norm_epsilon": 1e-05,
    "model_type": "mamba2", "n_groups": 8, "norm_before_gate": False, "num_heads": 128,
    "num_hidden_layers": 64, "pad_token_id": 0, "rescale_prenorm_residual": False,
    "residual_in_fp32": True, "rms_norm": True, "state_size": 128, "tie_word_embeddings": False,
    "time_step_floor": 0.0001, "time_step_init_scheme": "random",
    "time_step_limit": [0.0, float("inf")], "time_step_max": 0.1, "time_step_min": 0.001,
    "time_step_rank": 256, "use_bias": False, "use_cache": True, "use_conv_bias": True,
    "vocab_size": 32768}


def test_codestral_mamba_builds_with_transformers_count():
    """Built at two of its 64 layers on meta, with transformers' count; the whole model's
    closed form is transformers' 7,285,403,648 (measured on meta once)."""
    import transformers

    from zoo.accounting import count_params
    from zoo.architectures import spec_from_config
    from zoo.model.decoder import Model

    assert count_params(spec_from_config(CODESTRAL)).total == 7_285_403_648
    config = {**CODESTRAL, "num_hidden_layers": 2}
    spec = spec_from_config(config)
    assert not spec.counted_only
    with torch.device("meta"):
        ours = sum(p.numel() for p in Model(spec).parameters())
        theirs = transformers.AutoModelForCausalLM.from_config(
            transformers.AutoConfig.for_model(**config))
    assert ours == sum(p.numel() for p in theirs.parameters()) == count_params(spec).total


@pytest.mark.parametrize("change, reason", [
    ({"time_step_limit": [0.0, 0.5]}, "time_step_limit"),
    ({"hidden_act": "gelu"}, "hidden_act")])
def test_what_the_scan_does_not_compute_is_counted_only(change, reason):
    from zoo.architectures import spec_from_config

    assert reason in spec_from_config({**CODESTRAL, **change}).counted_only

"""Llama 4's mechanisms beyond the shared matrix: the attention temperature tuning held to
transformers (on unpadded rows: transformers counts its positions in cache slots, so a
left-padded row would differ from the token positions zoo and Meta's code use), and chunked
attention that really cuts the context."""

from __future__ import annotations

import pytest
import torch

import zoo
from tests.tiny import hf_model, tiny_spec, zoo_from_hf

transformers = pytest.importorskip("transformers")


def test_temperature_tuning_equals_transformers():
    spec = tiny_spec("llama4").with_changes(temperature_floor=2)  # scales from position 1 on
    hf = hf_model(spec)
    model = zoo_from_hf(spec, hf)
    ids = torch.randint(3, spec.vocab_size, (2, 20), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert (model(ids) - hf(ids).logits).abs().max() <= 1e-4
        untuned = zoo_from_hf(spec.with_changes(temperature_floor=None,
                                                temperature_scale=None), hf)
        assert (untuned(ids) - hf(ids).logits).abs().max() > 1e-3, "the tuning changes logits"
    # decoding from the cache scales each new query at its own position
    ours = model.generate(ids[:1, :9], max_new_tokens=8)
    assert torch.equal(model.generate(ids[:1, :9], max_new_tokens=8, use_cache=False), ours)


def test_chunks_cut_the_context():
    """A chunked layer's query sees its own chunk only: the first chunk's logits do not depend
    on the chunk size, later ones do."""
    spec = tiny_spec("llama4")
    model = zoo.create_model(spec, seed=0).eval()
    wide = zoo.create_model(spec.with_changes(attention_chunk=64)).eval()
    wide.load_state_dict(model.state_dict())
    ids = torch.randint(3, spec.vocab_size, (1, 20), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ours, theirs = model(ids), wide(ids)
    assert torch.allclose(ours[:, :8], theirs[:, :8], atol=1e-6)
    assert (ours[:, 8:] - theirs[:, 8:]).abs().max() > 1e-4


def test_image_text_checkpoint_imports_its_text_decoder(tmp_path):
    """A Llama4ForConditionalGeneration folder (model_type llama4) loads as its text decoder,
    with that model's logits; the vision tower's closed form adds up to transformers' count of
    the whole model."""
    import json

    from zoo.architectures.llama4 import vision_params
    from zoo.testing import transformers_config

    spec = tiny_spec("llama4")
    vision = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
              "intermediate_size": 128, "image_size": 28, "patch_size": 14,
              "vision_output_dim": 32, "projector_input_dim": 32, "projector_output_dim": 32}
    config = transformers.Llama4Config(text_config=transformers_config(spec).to_dict(),
                                       vision_config=vision)
    torch.manual_seed(0)
    hf = transformers.Llama4ForConditionalGeneration(config).eval()
    hf.save_pretrained(tmp_path)
    model = zoo.from_hf(str(tmp_path)).eval()
    ids = torch.randint(3, spec.vocab_size, (1, 20), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        assert (model(ids) - hf(input_ids=ids).logits).abs().max() <= 1e-4
    published = json.loads((tmp_path / "config.json").read_text())
    assert zoo.count_params(model.spec).total + vision_params(published) == \
        sum(p.numel() for p in hf.parameters())

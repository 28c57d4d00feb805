"""The KV cache and the attention mask are checked against free memory before they are
allocated: a GGUF claiming a 2^40-token context with --max-new-tokens 2^39 is one error, not
a 70 TB allocation's traceback (or, where overcommit lets it through, the machine's memory
run out)."""

from __future__ import annotations

import os

import pytest
import torch

from tests.tiny import tiny_spec
from zoo.model import Model
from zoo.model.cache import KVCache


@pytest.fixture(scope="module")
def claims_2_40():
    torch.manual_seed(0)
    return Model(tiny_spec("llama").with_changes(context_length=2**40)).eval()


def test_a_kv_cache_beyond_free_memory_is_one_error(claims_2_40):
    if not os.path.exists("/proc/meminfo"):
        pytest.skip("no /proc/meminfo: the allocation is not checked against free memory")
    ids = torch.tensor([[1, 2, 3]])
    with pytest.raises(ValueError, match=r"^a KV cache of 549,755,813,891 positions for 1 "
                                         r"sequence\(s\) takes [\d,.]+ GiB, more than the "
                                         r"[\d,.]+ GiB free on cpu; ask for fewer max_new_tokens"):
        claims_2_40.generate(ids, max_new_tokens=2**39)
    mask = torch.tensor([[0, 1, 1], [1, 1, 1]])
    with pytest.raises(ValueError, match=r"^the attention mask of 549,755,813,891 positions"):
        claims_2_40.generate(torch.tensor([[0, 2, 3], [1, 2, 3]]), mask, max_new_tokens=2**39)


def test_a_cache_that_fits_is_unchanged(claims_2_40):
    out = claims_2_40.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=4)
    assert out.shape == (1, 7)
    cache = KVCache(2, capacity=8)
    k, _ = cache.append(0, torch.ones(1, 2, 3, 4), torch.ones(1, 2, 3, 4))
    assert k.shape == (1, 2, 3, 4) and cache.keys[0].shape == (1, 2, 8, 4)

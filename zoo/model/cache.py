"""The KV cache: every layer's keys and values so far, so a decoding step costs one token.

Storage is preallocated per layer as (batch, kv_heads, capacity, d_head) and grows by doubling,
so appending a token writes in place instead of concatenating the whole history each step.
Grouped- and multi-query layers store only their kv heads. A linear-attention layer (Gated
DeltaNet) stores no keys: its state is its convolution's last inputs and its recurrent matrix
per value head, replaced at each step, the same size at any length.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from zoo.errors import advised


def free_memory(device: Any) -> int | None:
    """Bytes that can still be allocated on `device`: a GPU's free memory plus what torch
    holds unused, the machine's available memory (Linux's MemAvailable) for the CPU; None where
    it cannot be known."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(nbytes: int, what: str, device: Any) -> None:
    """A ValueError saying what does not fit, before a tensor of `nbytes` is allocated on
    `device` with less memory free: a context of 2^40 tokens must not reach the allocator,
    which fails with a traceback, or succeed lazily and run the machine out of memory."""
    free = free_memory(device)
    if free is not None and nbytes > free:
        raise advised(ValueError, f"{what} takes {nbytes / 2**30:,.1f} GiB, more than the "
                                  f"{free / 2**30:,.1f} GiB free on {torch.device(device)}",
                      python="; ask for fewer max_new_tokens (or a shorter prompt, fewer "
                             "prompts or beams)",
                      cli="; ask for fewer --max-new-tokens (or a shorter prompt, fewer "
                          "prompts or beams)")


class KVCache:
    def __init__(self, n_layer: int, capacity: int = 0) -> None:
        self.keys: list[Tensor | None] = [None] * n_layer
        self.values: list[Tensor | None] = [None] * n_layer
        self.lengths = [0] * n_layer
        self.capacity = capacity
        self.states: list[tuple[Tensor, Tensor] | None] = [None] * n_layer

    @property
    def length(self) -> int:
        """Positions stored (the same in every layer that stores any, between forward passes:
        Gemma 4's layers that share keys and values store none)."""
        return max(self.lengths)

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store this step's keys/values for `layer`; return all of the layer's so far."""
        stored_k, stored_v, start = self.reserve(layer, k, v)
        end = start + k.shape[2]
        stored_k[:, :, start:end] = k
        stored_v[:, :, start:end] = v
        return stored_k[:, :, :end], stored_v[:, :, :end]

    def reserve(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, int]:
        """Room in `layer`'s storage for keys and values shaped like `k` and `v` (batch, kv
        heads, positions, d): the storage (grown where needed) and the first position they go
        to, which the caller writes (`append`, or zoo's fused decoding step)."""
        start = self.lengths[layer]
        end = start + k.shape[2]
        stored_k, stored_v = self.keys[layer], self.values[layer]
        if stored_k is None or stored_v is None or end > stored_k.shape[2]:
            stored_k, stored_v = self._grow(stored_k, k, end), self._grow(stored_v, v, end)
            self.keys[layer], self.values[layer] = stored_k, stored_v
        self.lengths[layer] = end
        return stored_k, stored_v, start

    def state(self, layer: int) -> tuple[Tensor, Tensor] | None:
        """A linear layer's (convolution inputs, recurrent state); None before its first
        token."""
        return self.states[layer]

    def set_state(self, layer: int, conv: Tensor, recurrent: Tensor, tokens: int) -> None:
        """Replace a linear layer's state after `tokens` more positions."""
        self.states[layer] = (conv, recurrent)
        self.lengths[layer] += tokens

    def _grow(self, old: Tensor | None, new: Tensor, needed: int) -> Tensor:
        size = max(needed, self.capacity, 2 * (old.shape[2] if old is not None else 0))
        batch, heads, _, dim = new.shape
        # a first store: this layer's, and as much for each layer not stored yet (most
        # store as much: linear and shared layers store none, and count here all the same)
        layers = sum(k is None for k in self.keys) if old is None else 1
        check_fits(2 * layers * batch * heads * size * dim * new.element_size(),
                   f"a KV cache of {size:,} positions for {batch} sequence(s)", new.device)
        try:
            grown = new.new_empty(batch, heads, size, dim)
        except RuntimeError as err:  # torch.OutOfMemoryError included
            raise advised(ValueError, f"a KV cache of {size:,} positions for {batch} "
                                      f"sequence(s) does not fit in memory ({str(err)[:200]})",
                          python="; ask for fewer max_new_tokens",
                          cli="; ask for fewer --max-new-tokens") from None
        if old is not None:
            grown[:, :, : old.shape[2]] = old
        return grown

    def reorder(self, index: Tensor) -> None:
        """Keep the sequences at `index` along the batch (beam search's survivors)."""
        for i, (k, v) in enumerate(zip(self.keys, self.values, strict=True)):
            if k is not None and v is not None:
                self.keys[i], self.values[i] = k.index_select(0, index), v.index_select(0, index)
        for i, state in enumerate(self.states):
            if state is not None:
                self.states[i] = (state[0].index_select(0, index),
                                  state[1].index_select(0, index))


__all__ = ["KVCache", "check_fits", "free_memory"]

"""Perplexity of a text: the standard sliding-window evaluation of a causal language model.

A text longer than the context cannot be scored in one pass, and cutting it into disjoint
chunks scores the start of every chunk with almost no left context, which inflates the loss.
Overlapping windows give every token a long left context while scoring each token once; the
stride trades compute (T / stride windows of N tokens) for context. This is the procedure of
transformers' perplexity guide (huggingface.co/docs/transformers/perplexity), so the figures
compare with the ones people publish that way, with two differences in the details: the
guide allows a stride equal to the context, whose windows then leave their first token
unscored, and it weights each later window's mean loss by one token fewer than it scored.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.errors import require_tokenizer
from zoo.fields import check, setting
from zoo.files.text import TextFile
from zoo.model import Model
from zoo.text import resolve_model
from zoo.tokenizer import Tokenizer

LOGIT_ROWS = 1024  # positions whose logits exist at once: bounds memory by rows x vocab


@dataclass(frozen=True)
class Window:
    """Tokens [begin, end) go through the model; tokens [first, end) are scored."""

    begin: int
    end: int
    first: int


@dataclass(frozen=True)
class Evaluation:
    """Mean loss per scored token (nats) and perplexity exp(loss), with how they were got."""

    model: str
    loss: float
    perplexity: float
    tokens: int  # in the text
    scored: int  # tokens - 1: every token but the first
    windows: int
    context: int
    stride: int
    batch: int
    seconds: float
    tokens_per_second: float  # scored tokens per second of model time

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def windows(n_tokens: int, context: int, stride: int) -> list[Window]:
    """The windows that score every token of an `n_tokens` text once, but the first.

    Window k feeds tokens [k * stride, min(k * stride + context, n_tokens)) and scores those
    that no earlier window scored: from the previous window's end (from token 1 in the first
    window, since token 0 has nothing to be predicted from) to its own end. So the first window
    scores tokens 1 .. context-1 with 0 .. context-2 tokens of left context, and every later
    window scores its last `stride` tokens (fewer in the last window), each seeing between
    context - stride and context - 1 tokens before it. A stride of at least the context would
    leave each window's first token unscored, so it must be smaller.
    """
    _check_windows(context, stride)
    if n_tokens < 2:
        raise ValueError(f"the text has {n_tokens} token(s); perplexity needs at least 2")
    return list(_plan(lambda needed: min(needed, n_tokens), context, stride))


def _check_windows(context: int, stride: int) -> None:
    if context < 2:
        raise ValueError(f"the context must be at least 2 tokens (one to predict from), "
                         f"got {context}")
    if not 1 <= stride < context:
        raise ValueError(f"the stride must be between 1 and context - 1 = {context - 1}, got "
                         f"{stride}: a window cannot score its own first token, so with a "
                         f"stride of the context or more some tokens would never be scored")


def _plan(have: Any, context: int, stride: int) -> Iterator[Window]:
    """`windows`' plan for a text whose length is learnt as it is read: `have(n)` is how many
    of the first n tokens exist (it reads up to n of them)."""
    begin, scored_to = 0, 1
    while have(scored_to + 1) > scored_to:
        end = have(begin + context)
        yield Window(begin, end, scored_to)
        scored_to, begin = end, begin + stride


class _Tokens:
    """Token ids read from an iterator as windows need them, keeping only those from the first
    window still to score on: memory is bounded by the windows of a batch, not the text."""

    def __init__(self, ids: Iterable[int]) -> None:
        self.source = iter(ids)
        self.kept: list[int] = []
        self.start = 0  # the position of kept[0] in the text
        self.done = False

    def have(self, needed: int) -> int:
        """How many of the first `needed` tokens exist, reading up to them."""
        short = needed - self.start - len(self.kept)
        if short > 0 and not self.done:
            more = list(itertools.islice(self.source, short))
            self.kept += more
            self.done = len(more) < short
        return min(needed, self.start + len(self.kept))

    def window(self, begin: int, end: int) -> list[int]:
        return self.kept[begin - self.start:end - self.start]

    @property
    def read(self) -> int:
        """Tokens read so far: the text's length once `have` has found its end."""
        return self.start + len(self.kept)

    def forget_before(self, position: int) -> None:
        drop = min(max(0, position - self.start), len(self.kept))
        del self.kept[:drop]
        self.start += drop


@dataclass(frozen=True)
class Windows:
    """How a text is cut into windows for scoring (see `windows`), declared once: `evaluate`
    checks them, and `zoo eval`'s flags come from here."""

    context: int | None = setting("int?", None, min=2, expected="at least 2 tokens",
                                  doc="tokens per window", default_doc="the model's context")
    stride: int | None = setting(
        "int?", None, min=1, doc="tokens between window starts, below the context; each "
                                 "window scores the tokens after the previous one's end",
        default_doc="half the context")
    batch: int = setting("int", 1, min=1, expected="a positive number of windows",
                         doc="windows per forward pass")


def evaluate(model_or_path: Any, text: str | TextFile, *, context: int | None = None,
             stride: int | None = None, batch: int = 1, dtype: Any = None,
             quantize: str | None = None, tokenizer: Tokenizer | None = None,
             progress: bool | None = None) -> Evaluation:
    """Perplexity of `text` under a model (a Model, a checkpoint path or a registry name; see
    `zoo.text.resolve_model`), by the sliding windows of `windows`.

    `context` defaults to the model's context and `stride` to half the context (every token
    after the first window then sees at least half a context, for twice the compute of
    disjoint windows). `text` is a string, or a `zoo.files.text.TextFile` (a file read a
    window at a time: what `zoo eval` passes). It is encoded by the model's tokenizer (or
    `tokenizer`) as
    `encode` does by default: with the BOS token only if the tokenizer adds one. `dtype` is
    the weights' dtype and `quantize` their packing (`zoo.quantize`: what a quantized model
    loses shows here) when loading a path or a name. `batch` windows run at once. The
    progress bar (on stderr) shows by default on a terminal.
    """
    loading = {k: v for k, v in (("dtype", dtype), ("quantize", quantize)) if v is not None}
    model = resolve_model(model_or_path, **loading)
    tokenizer = require_tokenizer(model, tokenizer)
    ids = itertools.chain.from_iterable(tokenizer.encode_chunks(text))
    return evaluate_ids(model, ids, context=context, stride=stride, batch=batch,
                        progress=progress)


def evaluate_ids(model: Model, ids: Sequence[int] | Tensor | Iterable[int], *,
                 context: int | None = None, stride: int | None = None, batch: int = 1,
                 progress: bool | None = None) -> Evaluation:
    """`evaluate` on token ids: a 1-D sequence, or any iterable of ids, read as the windows
    need them (only a batch of windows is kept)."""
    if isinstance(ids, Tensor | Sequence):
        as_tensor = torch.as_tensor(ids, dtype=torch.long)
        if as_tensor.dim() != 1:
            raise ValueError(f"ids must be one sequence (1-D), got shape "
                             f"{tuple(as_tensor.shape)}")
        ids = as_tensor.tolist()
    check(Windows, {"context": context, "stride": stride, "batch": batch}, dialect="python")
    spec = model.spec
    context = context if context is not None else spec.context_length
    if context > spec.context_length:
        raise ValueError(f"context {context} is longer than {spec.name}'s {spec.context_length} "
                         f"tokens")
    stride = stride if stride is not None else max(1, context // 2)
    _check_windows(context, stride)
    tokens = _Tokens(ids)
    if tokens.have(2) < 2:
        raise ValueError(f"the text has {tokens.have(2)} token(s); perplexity needs at least 2")
    nll, scored, count = 0.0, 0, 0
    total = len(ids) - 1 if isinstance(ids, Sequence) else None
    bar = _progress(progress, total=total)
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        with torch.inference_mode():
            for group in _batches(_plan(tokens.have, context, stride), batch):
                inputs, targets = _window_batch(tokens, group)
                nll += _summed_nll(model, inputs, targets)
                n = sum(w.end - w.first for w in group)
                scored += n
                count += len(group)
                tokens.forget_before(group[-1].begin + stride)
                if bar is not None:
                    bar.update(n)
                    bar.set_postfix(ppl=f"{math.exp(nll / scored):.3f}")
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    loss = nll / scored
    return Evaluation(model=spec.name, loss=loss, perplexity=math.exp(loss),
                      tokens=tokens.read, scored=scored,
                      windows=count, context=context, stride=stride, batch=batch,
                      seconds=seconds, tokens_per_second=scored / seconds)


def _batches(plan: Iterable[Window], size: int) -> Iterator[list[Window]]:
    plan = iter(plan)
    while group := list(itertools.islice(plan, size)):
        yield group


def _window_batch(tokens: _Tokens, group: list[Window]) -> tuple[Tensor, Tensor]:
    """Windows as rows, right-padded (only the last window can be shorter): padding after the
    real tokens changes nothing before it in a causal model, and its targets are -100.
    targets[row, t] is the token that position t predicts, where that token is scored."""
    width = max(w.end - w.begin for w in group)
    inputs = torch.zeros(len(group), width, dtype=torch.long)
    targets = torch.full((len(group), width), -100, dtype=torch.long)
    for row, w in enumerate(group):
        ids = torch.tensor(tokens.window(w.begin, w.end), dtype=torch.long)
        inputs[row, :w.end - w.begin] = ids
        targets[row, w.first - w.begin - 1:w.end - w.begin - 1] = ids[w.first - w.begin:]
    return inputs, targets


def _summed_nll(model: Model, inputs: Tensor, targets: Tensor) -> float:
    """Summed cross-entropy (fp32) of the scored positions; logits only for those, in slices."""
    device = model.embed.weight.device
    hidden = model.hidden_states(inputs.to(device))
    scored = targets.to(device) != -100
    hidden, wanted = hidden[scored], targets.to(device)[scored]
    total = 0.0
    for h, t in zip(hidden.split(LOGIT_ROWS), wanted.split(LOGIT_ROWS), strict=True):
        total += float(F.cross_entropy(model.logits(h).float(), t, reduction="sum"))
    return total


def _progress(enabled: bool | None, total: int) -> Any:
    """A tqdm bar in tokens, shown when asked, or by default on a terminal (None)."""
    if enabled is False:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="evaluating", unit="tok", disable=None if enabled is None
                else False)

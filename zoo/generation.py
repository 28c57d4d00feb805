"""Generation: decision rules over a model's next-token scores, the same for every family.

A language model only scores the vocabulary; generating text is choosing from those scores:
the most likely token (greedy), a random one from a reshaped distribution (temperature, top-k,
top-p), or the best continuations kept side by side (beam search). `Decoder` owns the model
calls (prefill, then one token per step through the KV cache, left padding handled by the
attention mask); the rules below only see scores and return tokens.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.cache import KVCache
from zoo.model import check_token_ids

if TYPE_CHECKING:
    from zoo.model import Model
    from zoo.tokenizer import Tokenizer


@dataclass(frozen=True)
class Options:
    """Validated generation options (see `Model.generate`)."""

    max_new_tokens: int
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    eos_token_id: tuple[int, ...] = ()
    pad_token_id: int = 0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    use_cache: bool = True

    @property
    def greedy(self) -> bool:
        return not self.do_sample or self.temperature == 0


def make_options(model: Model, input_ids: Tensor, attention_mask: Tensor | None,
                 tokenizer: Tokenizer | None, *, max_new_tokens: Any, do_sample: bool = False,
                 temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 num_beams: int = 1, length_penalty: float = 1.0,
                 early_stopping: bool | str = False,
                 eos_token_id: int | Sequence[int] | None = None, pad_token_id: int | None = None,
                 stop: str | Sequence[str] | None = None, seed: int | None = None,
                 use_cache: bool = True) -> Options:
    """Every check before any compute: a bad call is a ValueError that says what to change."""
    spec = model.spec
    if not isinstance(input_ids, Tensor) or input_ids.dim() != 2 or input_ids.dtype not in (
            torch.long, torch.int):
        raise ValueError("input_ids must be an integer tensor (batch, seq); for text use "
                         "zoo.generate(model, 'prompt')")
    batch, length = input_ids.shape
    if length == 0 or batch == 0:
        raise ValueError("the prompt is empty: generation needs at least one token per row")
    if attention_mask is not None and tuple(attention_mask.shape) != (batch, length):
        raise ValueError(f"attention_mask must have the shape of input_ids {(batch, length)}, "
                         f"got {tuple(attention_mask.shape)}")
    if attention_mask is not None and not bool(attention_mask.bool().any(-1).all()):
        raise ValueError("a row of attention_mask is all padding: every prompt needs a token")
    check_token_ids(spec, input_ids)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
            or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
    if length > spec.context_length:
        raise ValueError(f"the prompt has {length} tokens, more than {spec.name}'s context of "
                         f"{spec.context_length}")
    if length + max_new_tokens > spec.context_length:
        raise ValueError(f"{length} prompt tokens + max_new_tokens {max_new_tokens} = "
                         f"{length + max_new_tokens} would run past {spec.name}'s context of "
                         f"{spec.context_length}; ask for at most "
                         f"{spec.context_length - length} new tokens")
    if not isinstance(num_beams, int) or num_beams < 1:
        raise ValueError(f"num_beams must be a positive integer, got {num_beams!r}")
    if temperature < 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    sampling_options = [name for name, value, default in (
        ("temperature", temperature, 1.0), ("top_k", top_k, None), ("top_p", top_p, None))
        if value != default and not (name == "temperature" and value == 0)]
    if not do_sample and sampling_options:
        raise ValueError(f"{', '.join(sampling_options)} only apply when sampling; pass "
                         f"do_sample=True (or leave them out for greedy decoding)")
    if do_sample and num_beams > 1:
        raise ValueError("do_sample and num_beams > 1 conflict: choose sampling or beam search")
    if num_beams == 1 and length_penalty != 1.0:
        raise ValueError("length_penalty only applies to beam search (num_beams > 1)")
    if early_stopping not in (True, False, "never"):
        raise ValueError(f"early_stopping must be True, False or 'never', got {early_stopping!r}")
    eos = (eos_token_id,) if isinstance(eos_token_id, int) else tuple(eos_token_id or ())
    for token in eos:
        if not 0 <= token < spec.vocab_size:
            raise ValueError(f"eos_token_id {token} is outside the vocabulary of "
                             f"{spec.vocab_size}")
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if stops and tokenizer is None:
        raise ValueError("stop strings need a tokenizer to read the text; this model has none "
                         "(use eos_token_id, or load a checkpoint with its tokenizer)")
    if any(not s for s in stops):
        raise ValueError("a stop string must not be empty")
    pad = pad_token_id if pad_token_id is not None else (eos[0] if eos else 0)
    return Options(max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=temperature,
                   top_k=top_k, top_p=top_p, num_beams=num_beams,
                   length_penalty=length_penalty, early_stopping=early_stopping,
                   eos_token_id=eos, pad_token_id=pad, stop=stops, seed=seed,
                   use_cache=use_cache)


# --- the model side ---------------------------------------------------------------------------

class Decoder:
    """Runs the model: the prompt once, then one token per step through the KV cache.

    Keeps the attention mask of everything so far when the prompts are padded; without
    padding it passes none, so attention takes its fastest path.
    """

    def __init__(self, model: Model, input_ids: Tensor, attention_mask: Tensor | None,
                 max_new_tokens: int, use_cache: bool = True) -> None:
        self.model, self.use_cache = model, use_cache
        batch, length = input_ids.shape
        padded = attention_mask is not None and not bool(attention_mask.bool().all())
        self.mask = None
        if padded:
            assert attention_mask is not None
            self.mask = torch.ones(batch, length + max_new_tokens, dtype=torch.long,
                                   device=input_ids.device)
            self.mask[:, :length] = attention_mask.long()
        self.length = length
        self.cache = KVCache(model.spec.n_layer, capacity=length + max_new_tokens) \
            if use_cache else None
        self.ids = input_ids

    def _mask(self, length: int) -> Tensor | None:
        return None if self.mask is None else self.mask[:, :length]

    def first(self) -> Tensor:
        """Next-token logits (batch, vocab) after the prompt."""
        return self.model.next_token_logits(self.ids, self._mask(self.length), self.cache)

    def step(self, tokens: Tensor) -> Tensor:
        """Append one token per row; the logits for the token after it."""
        self.length += 1
        if self.cache is not None:
            return self.model.next_token_logits(tokens[:, None], self._mask(self.length),
                                                self.cache)
        self.ids = torch.cat([self.ids, tokens[:, None]], 1)
        return self.model.next_token_logits(self.ids, self._mask(self.length), None)

    def reorder(self, index: Tensor) -> None:
        """Beam search: the rows to continue from, in order."""
        if self.cache is not None:
            self.cache.reorder(index)
        else:
            self.ids = self.ids.index_select(0, index)
        if self.mask is not None:
            self.mask = self.mask.index_select(0, index)


# --- decision rules ---------------------------------------------------------------------------

def filter_logits(logits: Tensor, *, top_k: int | None = None,
                  top_p: float | None = None) -> Tensor:
    """Logits with every token outside the top-k and the top-p nucleus set to -inf.

    top-k keeps the k highest scores (ties with the k-th kept too); top-p keeps the smallest
    set of most likely tokens whose probabilities sum to at least p (always at least one).
    """
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        ordered, order = logits.sort(dim=-1, descending=True)
        probs = ordered.softmax(-1)
        before = probs.cumsum(-1) - probs  # probability mass strictly above each token
        drop = before >= top_p
        drop[..., 0] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def choose(logits: Tensor, options: Options, generator: torch.Generator | None) -> Tensor:
    """One token per row: the argmax, or a draw from the tempered, filtered distribution."""
    if options.greedy:
        return logits.argmax(-1)
    logits = filter_logits(logits.float() / options.temperature, top_k=options.top_k,
                           top_p=options.top_p)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)


class StopStrings:
    """Which rows' text now contains a stop string (decoding only a recent window)."""

    def __init__(self, stops: tuple[str, ...], tokenizer: Tokenizer | None, batch: int) -> None:
        self.stops, self.tokenizer = stops, tokenizer
        self.rows: list[list[int]] = [[] for _ in range(batch)]
        # enough tokens to hold the longest stop string even at one character per token
        self.window = max((len(s) for s in stops), default=0) + 8

    def check(self, generated: Sequence[Sequence[int]]) -> list[bool]:
        """For each row's generated ids, whether its text contains a stop string."""
        if not self.stops or self.tokenizer is None:
            return [False] * len(generated)
        tails = (self.tokenizer.decode(list(ids[-self.window:])) for ids in generated)
        return [any(s in tail for s in self.stops) for tail in tails]

    def hits(self, tokens: Sequence[int]) -> list[bool]:
        """Append one token per row (sampling and greedy keep the rows here) and check."""
        for row, token in zip(self.rows, tokens, strict=True):
            row.append(int(token))
        return self.check(self.rows)


def sample_stream(model: Model, input_ids: Tensor, attention_mask: Tensor | None,
                  options: Options, tokenizer: Tokenizer | None) -> Iterator[tuple[Tensor, Tensor]]:
    """Greedy or sampled decoding. Yields each step's tokens (batch,) and which rows were still
    live for it (a finished row gets the pad token); stops when every row has finished."""
    generator = None
    if options.seed is not None:
        generator = torch.Generator(device=input_ids.device).manual_seed(options.seed)
    decoder = Decoder(model, input_ids, attention_mask, options.max_new_tokens,
                      options.use_cache)
    batch = input_ids.shape[0]
    live = torch.ones(batch, dtype=torch.bool, device=input_ids.device)
    eos = torch.tensor(options.eos_token_id, dtype=torch.long, device=input_ids.device)
    stops = StopStrings(options.stop, tokenizer, batch)
    with torch.no_grad():
        logits = decoder.first()
        for step in range(options.max_new_tokens):
            tokens = choose(logits, options, generator).masked_fill(~live, options.pad_token_id)
            yield tokens, live
            ended = torch.isin(tokens, eos)
            if options.stop:
                ended |= torch.tensor(stops.hits(tokens.tolist()), device=tokens.device)
            live = live & ~ended
            if step == options.max_new_tokens - 1 or not bool(live.any()):
                return
            logits = decoder.step(tokens)


# --- beam search ------------------------------------------------------------------------------

NEG = -1.0e9


def beam_stream(model: Model, input_ids: Tensor, attention_mask: Tensor | None,
                options: Options,
                tokenizer: Tokenizer | None) -> Generator[list[list[int]], None, Tensor]:
    """Beam search, as transformers does it (length-normalised finished hypotheses, the same
    early-stopping heuristic). Yields, per row, the tokens every live beam now agrees on, and
    at the end the rest of the best hypothesis; returns the final ids (batch, total).
    """
    batch, prompt = input_ids.shape
    beams, vocab = options.num_beams, model.spec.vocab_size
    device = input_ids.device
    total = prompt + options.max_new_tokens
    keep = max(2, 1 + len(options.eos_token_id)) * beams
    expand = torch.arange(batch, device=device).repeat_interleave(beams)
    mask = attention_mask.index_select(0, expand) if attention_mask is not None else None
    decoder = Decoder(model, input_ids.index_select(0, expand), mask, options.max_new_tokens,
                      options.use_cache)
    running = torch.full((batch, beams, total), options.pad_token_id, dtype=torch.long,
                         device=device)
    running[:, :, :prompt] = input_ids[:, None]
    running_scores = torch.zeros(batch, beams, device=device)
    running_scores[:, 1:] = NEG
    finished = running.clone()
    finished_scores = torch.full((batch, beams), NEG, device=device)
    finished_lengths = torch.zeros(batch, beams, dtype=torch.long, device=device)
    is_finished = torch.zeros(batch, beams, dtype=torch.bool, device=device)
    improvable = torch.ones(batch, 1, dtype=torch.bool, device=device)
    top_ranks = torch.arange(keep, device=device) < beams
    eos = torch.tensor(options.eos_token_id, dtype=torch.long, device=device)
    stops = StopStrings(options.stop, tokenizer, 0)
    agreed = [0] * batch
    rows = torch.arange(batch, device=device)[:, None]
    with torch.no_grad():
        logits = decoder.first()
        length = prompt
        while True:
            scores = F.log_softmax(logits.float(), -1).view(batch, beams, vocab)
            scores = (scores + running_scores[:, :, None]).view(batch, beams * vocab)
            top_scores, top_index = torch.topk(scores, keep, dim=-1)
            source, tokens = top_index // vocab, top_index % vocab
            candidates = running[rows, source]  # (batch, keep, total)
            candidates[:, :, length] = tokens
            hits = torch.isin(tokens, eos) if len(options.eos_token_id) else \
                torch.zeros_like(tokens, dtype=torch.bool)
            if options.stop:
                generated = candidates[:, :, prompt:length + 1].reshape(batch * keep, -1)
                hits |= torch.tensor(stops.check(generated.tolist()),
                                     device=device).view(batch, keep)
            if length + 1 >= total:
                hits = torch.ones_like(hits)
            # the best candidates that go on
            going = top_scores + hits.float() * NEG
            next_rank = torch.topk(going, beams, dim=-1).indices
            running = candidates[rows, next_rank]
            running_scores = going.gather(1, next_rank)
            chosen_source = source.gather(1, next_rank)
            # the best candidates that end here join the finished hypotheses
            just = hits & top_ranks
            normalised = top_scores / ((length + 1 - prompt) ** options.length_penalty)
            full = is_finished.all(-1, keepdim=True) & (options.early_stopping is True)
            normalised = normalised + full.float() * NEG + (~improvable).float() * NEG
            normalised = normalised + (~just).float() * NEG
            merged_scores = torch.cat([finished_scores, normalised], 1)
            best = torch.topk(merged_scores, beams, dim=-1).indices
            merged = torch.cat([finished, candidates], 1)
            merged_lengths = torch.cat([finished_lengths, torch.full_like(
                normalised, length + 1, dtype=torch.long)], 1)
            finished = merged[rows, best]
            finished_scores = merged_scores.gather(1, best)
            finished_lengths = merged_lengths.gather(1, best)
            is_finished = torch.cat([is_finished, just], 1).gather(1, best)
            length += 1
            # stream what every live beam agrees on
            yield _agreed_tokens(running, agreed, prompt, length)
            # can anything still improve?
            if options.early_stopping == "never" and options.length_penalty > 0:
                horizon = total - prompt
            else:
                horizon = length - prompt
            best_possible = running_scores[:, :1] / (horizon ** options.length_penalty)
            worst = torch.where(is_finished, finished_scores.min(-1, keepdim=True).values,
                                torch.full_like(finished_scores, NEG))
            improvable = improvable & (best_possible > worst).any(-1, keepdim=True)
            all_full = bool(is_finished.all()) and options.early_stopping is True
            if not bool(improvable.any()) or all_full or bool(hits.all()):
                break
            flat = (chosen_source + torch.arange(batch, device=device)[:, None] * beams)
            decoder.reorder(flat.flatten())
            logits = decoder.step(running[:, :, length - 1].flatten())
    out_length = prompt + int((finished_lengths[:, 0] - prompt).max())
    result = finished[:, 0, :out_length]
    yield [result[b, prompt + agreed[b]:int(finished_lengths[b, 0])].tolist()
           for b in range(batch)]
    return result


def _agreed_tokens(running: Tensor, agreed: list[int], prompt: int,
                   length: int) -> list[list[int]]:
    """Per row, the new tokens on which all live beams agree (and that were not yet yielded)."""
    out = []
    for b in range(running.shape[0]):
        rows = running[b, :, prompt:length]
        same = (rows == rows[:1]).all(0)
        n = int(same.long().cumprod(0).sum()) if same.numel() else 0
        out.append(rows[0, agreed[b]:n].tolist() if n > agreed[b] else [])
        agreed[b] = max(agreed[b], n)
    return out


# --- the public entry points -------------------------------------------------------------------

def _finish(steps: Generator[Any, None, Tensor]) -> Tensor:
    """Run a generator to its end and give its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


def generate_ids(model: Model, input_ids: Tensor, **kwargs: Any) -> Tensor:
    """The prompt followed by the generated ids (batch x total length); see Model.generate."""
    attention_mask = kwargs.pop("attention_mask", None)
    tokenizer = kwargs.pop("tokenizer", None) or getattr(model, "tokenizer", None)
    options = make_options(model, input_ids, attention_mask, tokenizer, **kwargs)
    if options.num_beams > 1:
        return _finish(beam_stream(model, input_ids, attention_mask, options, tokenizer))
    steps = [tokens for tokens, _ in sample_stream(model, input_ids, attention_mask, options,
                                                   tokenizer)]
    return torch.cat([input_ids, torch.stack(steps, 1)], 1)


def stream_ids(model: Model, input_ids: Tensor, **kwargs: Any) -> Iterator[list[list[int]]]:
    """Per step, each row's newly settled tokens (see Model.stream)."""
    attention_mask = kwargs.pop("attention_mask", None)
    tokenizer = kwargs.pop("tokenizer", None) or getattr(model, "tokenizer", None)
    options = make_options(model, input_ids, attention_mask, tokenizer, **kwargs)
    if options.num_beams > 1:
        yield from beam_stream(model, input_ids, attention_mask, options, tokenizer)
        return
    for tokens, live in sample_stream(model, input_ids, attention_mask, options, tokenizer):
        yield [[value] if alive else []
               for value, alive in zip(tokens.tolist(), live.tolist(), strict=True)]


# --- text in, text out -------------------------------------------------------------------------

def resolve_model(model_or_path: Any) -> Model:
    """A Model as is; a path (zoo safetensors, Hugging Face folder, GGUF) loaded; a registry
    name loaded from its published weights in the local Hugging Face cache."""
    from pathlib import Path

    from zoo.model import Model
    from zoo.registry import UnknownModelError, get_spec
    from zoo.weights import load

    if isinstance(model_or_path, Model):
        return model_or_path
    path = Path(model_or_path)
    if path.exists():
        return load(path)
    try:
        spec = get_spec(str(model_or_path))
    except UnknownModelError:
        return load(path)  # a repo id in the Hugging Face cache, or a clear error
    if not spec.weights.hf:
        raise ValueError(f"{spec.name} has no public weights to generate with; pass a "
                         f"checkpoint path (zoo safetensors, Hugging Face folder or GGUF)")
    from zoo.convert.hf import from_hf

    return from_hf(spec.weights.hf)


def encode_prompts(tokenizer: Tokenizer, prompts: Sequence[str],
                   chat: bool) -> tuple[Tensor, Tensor]:
    """Left-padded ids and attention mask for a batch of prompts (chat template applied)."""
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}]) if chat else p
             for p in prompts]
    encoded = [tokenizer.encode(t, add_special_tokens=not chat) for t in texts]
    if any(not ids for ids in encoded):
        raise ValueError("a prompt encodes to no tokens")
    width = max(len(ids) for ids in encoded)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.full((len(encoded), width), pad, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, ids in enumerate(encoded):
        input_ids[row, width - len(ids):] = torch.tensor(ids)
        mask[row, width - len(ids):] = 1
    return input_ids, mask


def _cut_at_stop(text: str, stops: Sequence[str]) -> str:
    positions = [text.find(s) for s in stops if s in text]
    return text[:min(positions)] if positions else text


def generate(model_or_path: Any, prompt: str | Sequence[str], *,
             max_new_tokens: int | None = None, chat: bool = False, stream: bool = False,
             tokenizer: Tokenizer | None = None, **options: Any) -> Any:
    """Generated text for a prompt (or a list of prompts), with any model and its tokenizer.

    `model_or_path` is a Model, a zoo safetensors file, a Hugging Face folder or cached repo
    id, a GGUF file, or a registry name whose weights are in the local cache. `chat=True`
    applies the checkpoint's chat template. Options are `Model.generate`'s; eos defaults to the
    tokenizer's. Returns the new text (without the prompt, cut before a stop string), a list for
    a list of prompts, or with `stream=True` an iterator of text pieces (one prompt).
    """
    model = resolve_model(model_or_path)
    tokenizer = tokenizer or getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError(f"{model.spec.name} has no tokenizer: load a checkpoint that has one "
                         f"(tokenizer.json, GGUF), or pass tokenizer=zoo.Tokenizer...")
    single = isinstance(prompt, str)
    prompts = [prompt] if single else list(prompt)
    if not prompts:
        raise ValueError("no prompt given")
    input_ids, mask = encode_prompts(tokenizer, prompts, chat)
    if options.get("eos_token_id") is None and tokenizer.eos_token_id is not None:
        options["eos_token_id"] = tokenizer.eos_token_id
    if max_new_tokens is None:
        max_new_tokens = max(1, min(128, model.spec.context_length - input_ids.shape[1]))
    stops = options.get("stop")
    stops = (stops,) if isinstance(stops, str) else tuple(stops or ())
    kwargs = dict(options, max_new_tokens=max_new_tokens, attention_mask=mask,
                  tokenizer=tokenizer)
    if stream:
        if not single:
            raise ValueError("stream=True takes one prompt")
        return _stream_text(model, tokenizer, input_ids, stops, kwargs)
    ids = generate_ids(model, input_ids, **kwargs)
    texts = [_cut_at_stop(tokenizer.decode(_strip(row, kwargs), skip_special_tokens=True),
                          stops) for row in ids[:, input_ids.shape[1]:].tolist()]
    return texts[0] if single else texts


def _strip(row: list[int], kwargs: dict[str, Any]) -> list[int]:
    """A row's generated ids up to and including its first eos (the rest is padding)."""
    eos = kwargs.get("eos_token_id")
    eos = {eos} if isinstance(eos, int) else set(eos or ())
    for i, token in enumerate(row):
        if token in eos:
            return row[: i + 1]
    return row


def _stream_text(model: Model, tokenizer: Tokenizer, input_ids: Tensor,
                 stops: tuple[str, ...], kwargs: dict[str, Any]) -> Iterator[str]:
    """Text pieces as tokens settle. Decoding the whole generation each time keeps multi-byte
    characters whole; the last characters are held back while they could start a stop string."""
    ids: list[int] = []
    shown = 0
    hold = max((len(s) for s in stops), default=1) - 1
    for step in stream_ids(model, input_ids, **kwargs):
        ids += step[0]
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if any(s in text for s in stops):
            final = _cut_at_stop(text, stops)
            if len(final) > shown:
                yield final[shown:]
            return
        ready = len(text) - hold if hold else len(text)
        if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for its next byte
            ready = min(ready, len(text.rstrip("\ufffd")))
        if ready > shown:
            yield text[shown:ready]
            shown = ready
    text = tokenizer.decode(ids, skip_special_tokens=True)
    if len(text) > shown:
        yield text[shown:]

"""Text in, text out: prompts and chat templates, stop strings cut from the text, and a name or
path resolved to a model. Above the engine (`zoo.model.generation`), which only sees token ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.checkpoints import load
from zoo.checkpoints.local import find_local, zoo_weight_dirs
from zoo.errors import require_tokenizer
from zoo.model import Model
from zoo.model.generation import Options, final_ids, run
from zoo.registry import UnknownModelError, get_spec
from zoo.tokenizer import Tokenizer


def resolve_model(model_or_path: Any, **load_options: Any) -> Model:
    """A Model as is; a path in any format zoo reads, loaded; a registry name loaded from the
    first copy `zoo list --local` finds (the checkpoint its spec names, the Hugging Face cache,
    the zoo weights folders), else from its published weights on the Hub. `load_options`
    (dtype, device ...) go to the loader, so they apply to paths and names only.

    A zoo checkpoint folder with a tokenizer.json beside its weights (what `zoo finetune`
    writes) gets that tokenizer: zoo's own format keeps weights only.
    """
    if isinstance(model_or_path, Model):
        if load_options:
            raise ValueError(f"{', '.join(load_options)}: loading options, for a path or a name; "
                             f"this is a model already loaded")
        return model_or_path
    path = Path(model_or_path)
    if path.exists():
        model = load(path, **load_options)
        if model.tokenizer is None and path.is_dir() and (path / "tokenizer.json").is_file():
            model.tokenizer = Tokenizer.from_folder(path)
        return model
    try:
        spec = get_spec(str(model_or_path))
    except UnknownModelError:
        return load(path, **load_options)  # a repo id in the Hugging Face cache, or a clear error
    local = find_local([spec])  # what `zoo show` and `zoo list --local` report, in that order
    if local:
        return resolve_model(local[0].path, **load_options)
    if not spec.weights.hf:
        raise ValueError(f"{spec.name} has no public weights and none on this machine (the "
                         f"zoo weights folders: {', '.join(map(str, zoo_weight_dirs()))}); "
                         f"pass a checkpoint path (zoo safetensors, Hugging Face folder or GGUF)")
    return load(spec.weights.hf, **load_options)


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
    tokenizer = require_tokenizer(model, tokenizer)
    single = isinstance(prompt, str)
    if not single and not (isinstance(prompt, (list, tuple))
                           and all(isinstance(p, str) for p in prompt)):
        raise TypeError(f"prompt must be a string or a list of strings, got "
                        f"{type(prompt).__name__}")
    prompts = [prompt] if single else list(prompt)
    if not prompts:
        raise ValueError("no prompt given")
    input_ids, mask = encode_prompts(tokenizer, prompts, chat)
    # the defaults that depend on the model and its tokenizer (see Options' declarations)
    if options.get("eos_token_id") is None and tokenizer.eos_token_id is not None:
        options["eos_token_id"] = tokenizer.eos_token_id
    if max_new_tokens is None:
        max_new_tokens = max(1, min(128, model.spec.context_length - input_ids.shape[1]))
    checked = Options.check(model.spec, input_ids, mask, tokenizer,
                            max_new_tokens=max_new_tokens, **options)
    if stream:
        if not single:
            raise ValueError("stream=True takes one prompt")
        return _stream_text(model, tokenizer, input_ids, mask, checked)
    ids = final_ids(run(model, input_ids, mask, checked, tokenizer))
    texts = [_cut_at_stop(tokenizer.decode(_strip(row, checked.eos), skip_special_tokens=True),
                          checked.stops) for row in ids[:, input_ids.shape[1]:].tolist()]
    return texts[0] if single else texts


def _strip(row: list[int], eos: tuple[int, ...]) -> list[int]:
    """A row's generated ids up to and including its first eos (the rest is padding)."""
    for i, token in enumerate(row):
        if token in eos:
            return row[: i + 1]
    return row


def _stream_text(model: Model, tokenizer: Tokenizer, input_ids: Tensor, mask: Tensor,
                 options: Options) -> Iterator[str]:
    """Text pieces as tokens settle. Decoding the whole generation each time keeps multi-byte
    characters whole; the last characters are held back while they could start a stop string."""
    ids: list[int] = []
    shown = 0
    stops = options.stops
    hold = max((len(s) for s in stops), default=1) - 1
    for step in run(model, input_ids, mask, options, tokenizer):
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

"""Text in, ids out: a thin layer over the `tokenizers` library.

A checkpoint's own `tokenizer.json` is used as is; a GGUF file's vocabulary and merges become a
byte-level BPE with the pre-tokenizer its `tokenizer.ggml.pre` names. Chat templates are the
checkpoint's Jinja templates, rendered in a sandbox as transformers renders them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as Backend

from zoo.errors import advised
from zoo.files.folder import replace_file

# llama.cpp's pre-tokenizer names -> the splits before the byte-level step (which itself
# applies GPT-2's split)
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_PRE_TOKENIZERS = {
    "default": [],
    "gpt2": [],
    "smollm": [pre_tokenizers.Digits(individual_digits=True)],  # every digit on its own
    "llama3": [pre_tokenizers.Split(Regex(_LLAMA3_SPLIT), behavior="isolated")],
    "llama-bpe": [pre_tokenizers.Split(Regex(_LLAMA3_SPLIT), behavior="isolated")],
}
CONTROL = 3  # GGUF token type of special tokens such as <|im_start|>
USER_DEFINED = 4  # GGUF token type of added tokens that are not special, such as <think>


class Tokenizer:
    """Encode, decode, pad batches and apply chat templates."""

    def __init__(self, backend: Backend, *, bos_token: str | None = None,
                 eos_token: str | None = None, pad_token: str | None = None,
                 chat_template: str | None = None, add_bos_token: bool = False) -> None:
        self.backend = backend
        self.bos_token, self.eos_token, self.pad_token = bos_token, eos_token, pad_token
        self.chat_template = chat_template
        self.add_bos_token = add_bos_token

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str]) -> Tokenizer:
        """tokenizer.json, with tokenizer_config.json's special tokens and chat template."""
        folder = Path(folder)
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"{folder}: no tokenizer.json")
        config: dict[str, Any] = {}
        if (folder / "tokenizer_config.json").is_file():
            config = json.loads((folder / "tokenizer_config.json").read_text())
        if config.get("chat_template") is None and (folder / "chat_template.jinja").is_file():
            config["chat_template"] = (folder / "chat_template.jinja").read_text()
        return cls._from_config(Backend.from_file(str(path)), config)

    @classmethod
    def _from_config(cls, backend: Backend, config: dict[str, Any]) -> Tokenizer:
        """The backend with tokenizer_config.json's special tokens and chat template."""
        def token(key: str) -> str | None:
            value = config.get(key)
            return value.get("content") if isinstance(value, dict) else value

        return cls(backend, bos_token=token("bos_token"), eos_token=token("eos_token"),
                   pad_token=token("pad_token"), chat_template=config.get("chat_template"),
                   add_bos_token=bool(config.get("add_bos_token", False)))

    @classmethod
    def from_gguf_fields(cls, fields: dict[str, Any]) -> Tokenizer:
        """The tokenizer a GGUF file describes (tokenizer.ggml.*): byte-level BPE (`gpt2`) or
        SentencePiece BPE (`llama`), built as transformers builds it from the same file."""
        kind = fields.get("tokenizer.ggml.model")
        build = GGUF_TOKENIZERS.get(kind)
        if build is None:
            raise ValueError(f"GGUF tokenizer model {kind!r} is not supported; zoo reads "
                             f"{', '.join(GGUF_TOKENIZERS)}")
        tokens: list[str] = fields["tokenizer.ggml.tokens"]
        backend = build(fields)
        types = fields.get("tokenizer.ggml.token_type") or []
        backend.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                    for t, kind in zip(tokens, types, strict=False)
                                    if kind == CONTROL])
        vocab = backend.get_vocab()
        backend.add_tokens([AddedToken(t, special=False, normalized=False)
                            for t, kind in zip(tokens, types, strict=False)
                            if kind == USER_DEFINED and t in vocab])

        def token_at(key: str) -> str | None:
            index = fields.get(key)
            return tokens[index] if isinstance(index, int) and 0 <= index < len(tokens) else None

        # llama.cpp adds BOS to a SentencePiece vocabulary unless the file says otherwise
        add_bos = fields.get("tokenizer.ggml.add_bos_token", kind == "llama")
        return cls(backend, bos_token=token_at("tokenizer.ggml.bos_token_id"),
                   eos_token=token_at("tokenizer.ggml.eos_token_id"),
                   pad_token=token_at("tokenizer.ggml.padding_token_id"),
                   chat_template=fields.get("tokenizer.chat_template"),
                   add_bos_token=bool(add_bos))

    def save(self, folder: str | os.PathLike[str]) -> list[Path]:
        """tokenizer.json and tokenizer_config.json, as transformers reads them; each replaced
        whole (`replace_file`), never written through a symlink (a Hugging Face cache snapshot
        links its files to blobs that other revisions share)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return [replace_file(folder / "tokenizer.json", self.backend.to_str(pretty=True).encode()),
                replace_file(folder / "tokenizer_config.json",
                             (json.dumps(self._config(), indent=2) + "\n").encode())]

    def _config(self) -> dict[str, Any]:
        """tokenizer_config.json: the special tokens and chat template, as transformers reads
        them."""
        config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": self.bos_token,
                  "eos_token": self.eos_token, "pad_token": self.pad_token,
                  "add_bos_token": self.add_bos_token, "clean_up_tokenization_spaces": False}
        if self.chat_template:
            config["chat_template"] = self.chat_template
        return config

    def to_json(self) -> str:
        """The whole tokenizer as one JSON string (its tokenizer.json and tokenizer_config.json):
        what a weights file keeps in its metadata, so that it needs nothing beside it."""
        return json.dumps({"tokenizer": json.loads(self.backend.to_str()),
                           "config": self._config()}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Tokenizer:
        """A tokenizer from `to_json`'s string."""
        data = json.loads(text)
        return cls._from_config(Backend.from_str(json.dumps(data["tokenizer"])), data["config"])

    # --- use ---------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def token_id(self, token: str | None) -> int | None:
        return None if token is None else self.backend.token_to_id(token)

    @property
    def bos_token_id(self) -> int | None:
        return self.token_id(self.bos_token)

    @property
    def eos_token_id(self) -> int | None:
        return self.token_id(self.eos_token)

    @property
    def pad_token_id(self) -> int | None:
        pad = self.token_id(self.pad_token)
        return pad if pad is not None else self.eos_token_id

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        ids = self.backend.encode(text, add_special_tokens=add_special_tokens).ids
        bos = self.bos_token_id
        if add_special_tokens and self.add_bos_token and bos is not None and ids[:1] != [bos]:
            ids = [bos, *ids]
        return ids

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def apply_chat_template(self, messages: Sequence[dict[str, str]], *,
                            add_generation_prompt: bool = True) -> str:
        """The prompt text for a conversation, by the checkpoint's own template."""
        if not self.chat_template:
            raise advised(ValueError, "this tokenizer has no chat template",
                          python="; pass chat=False", cli="; leave out --chat")
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise ValueError(f"chat template: {message}")

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=[loopcontrols])
        env.globals["raise_exception"] = raise_exception
        return env.from_string(self.chat_template).render(
            messages=list(messages), add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token or "", eos_token=self.eos_token or "")


# --- GGUF vocabularies, one builder per tokenizer.ggml.model ------------------------------------

def _byte_level(fields: dict[str, Any]) -> Backend:
    """GPT-2's byte-level BPE, with the split `tokenizer.ggml.pre` names."""
    tokens: list[str] = fields["tokenizer.ggml.tokens"]
    merges = [tuple(m.split(" ", 1)) for m in fields.get("tokenizer.ggml.merges", [])]
    pre = fields.get("tokenizer.ggml.pre", "default")
    if pre not in _PRE_TOKENIZERS:
        raise ValueError(f"GGUF pre-tokenizer {pre!r} is not supported; zoo knows "
                         f"{', '.join(sorted(_PRE_TOKENIZERS))}")
    vocab = {token: i for i, token in enumerate(tokens)}
    backend = Backend(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [*_PRE_TOKENIZERS[pre], pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    backend.decoder = decoders.ByteLevel()
    return backend


def _merges(tokens: list[str], rank: dict[str, float]) -> list[tuple[str, str]]:
    """The merges a SentencePiece BPE vocabulary implies (the file lists none): every split of
    every token into two tokens of the vocabulary, best-ranked first, as transformers derives
    them."""
    index = {token: i for i, token in enumerate(tokens)}
    merges = []
    for token, score in rank.items():
        pairs = [(token[:k], token[k:]) for k in range(1, len(token))
                 if token[:k] in index and token[k:] in index]
        pairs.sort(key=lambda pair: (index[pair[0]], index[pair[1]]))
        merges += [(left, right, score) for left, right in pairs]
    merges.sort(key=lambda m: (m[2], len(m[0]), len(m[1])), reverse=True)
    return [(left, right) for left, right, _ in merges]


def _sentencepiece(fields: dict[str, Any]) -> Backend:
    """SentencePiece BPE with byte fallback. Gemma's files spell a token of several spaces with
    real spaces and rank merges by the order of the vocabulary (its scores do not follow the
    merge order), with no prefix space; LLaMA's rank by score and prefix a space."""
    tokens: list[str] = list(fields["tokenizer.ggml.tokens"])
    gemma = str(fields.get("general.architecture", "")).startswith("gemma")
    if gemma:
        tokens = ["\u2581" * len(t) if " " in t and not t.strip() else t for t in tokens]
        rank = {token: -float(i) for i, token in enumerate(tokens)}
    else:
        rank = dict(zip(tokens, map(float, fields["tokenizer.ggml.scores"]), strict=True))
    vocab = {token: i for i, token in enumerate(tokens)}
    unk = fields.get("tokenizer.ggml.unknown_token_id")
    backend = Backend(models.BPE(vocab=vocab, merges=_merges(tokens, rank), fuse_unk=True,
                                 byte_fallback=True,
                                 unk_token=tokens[unk] if isinstance(unk, int) else None))
    steps = [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    if gemma:
        backend.normalizer = normalizers.Replace(" ", "\u2581")
    else:
        prefix = fields.get("tokenizer.ggml.add_space_prefix", True)
        backend.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement="\u2581", prepend_scheme="first" if prefix else "never", split=False)
        steps += [decoders.Strip(content=" ", left=1)] if prefix else []
    backend.decoder = decoders.Sequence(steps)
    return backend


GGUF_TOKENIZERS: dict[str, Callable[[dict[str, Any]], Backend]] = {
    "gpt2": _byte_level, "llama": _sentencepiece}

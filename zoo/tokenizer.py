"""Text in, ids out: a thin layer over the `tokenizers` library.

A checkpoint's own `tokenizer.json` is used as is; a GGUF file's vocabulary and merges become a
byte-level BPE with the pre-tokenizer its `tokenizer.ggml.pre` names, every key's type checked.
Chat templates are the checkpoint's Jinja templates, rendered within limits by `zoo.chat`.
"""

from __future__ import annotations

import array
import bisect
import itertools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as Backend

from zoo.chat import render_template, template_source
from zoo.errors import advised
from zoo.files.folder import replace_file
from zoo.files.gguf import GGUFArray
from zoo.files.text import TextFile

# llama.cpp's pre-tokenizer names -> the regular expressions it splits text by, in its order
# (each splits the pieces the one before made, matches isolated), before the byte-level step;
# from llama.cpp's llama-vocab.cpp. Its `default` (a file that names none) is not GPT-2's.
_GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# Qwen2's: LLaMA 3's with every digit on its own
_QWEN2_SPLIT = _LLAMA3_SPLIT.replace(r"\p{N}{1,3}", r"\p{N}")
_PRE_SPLITS: dict[str, tuple[str, ...]] = {
    "default": (r"[\p{P}\$\+<=>\^~\|]+", _GPT2_SPLIT, r"\p{N}+", "[0-9][0-9][0-9]"),
    "gpt-2": (_GPT2_SPLIT,),
    "smollm": (r"\p{N}", _GPT2_SPLIT),
    "llama-bpe": (_LLAMA3_SPLIT,),  # llama.cpp's converter's name for LLaMA 3's (first: the
    "llama3": (_LLAMA3_SPLIT,),     # one zoo writes), and the others its reader takes
    "llama-v3": (_LLAMA3_SPLIT,),
    "falcon3": (_LLAMA3_SPLIT,),
    "qwen2": (_QWEN2_SPLIT,),
}
NORMAL = 1  # GGUF token type of a vocabulary's own tokens
CONTROL = 3  # GGUF token type of special tokens such as <|im_start|>
USER_DEFINED = 4  # GGUF token type of added tokens that are not special, such as <think>
UNUSED = 5  # GGUF token type of the rows past a vocabulary (padding the embedding)
# the longest SentencePiece token whose merges are derived: deriving them tries every split of
# every token, so the work grows with the square of a token's length (published vocabularies'
# longest tokens have 16 to 31 characters)
MAX_PIECE_CHARS = 256

ENCODE_CHUNK = 1 << 14  # characters encoded at a time by `encode_chunks`


class Tokenizer:
    """Encode, decode, pad batches and apply chat templates."""

    def __init__(self, backend: Backend, *, bos_token: str | None = None,
                 eos_token: str | None = None, pad_token: str | None = None,
                 chat_template: str | None = None, add_bos_token: bool = False) -> None:
        self.backend = backend
        self.bos_token, self.eos_token, self.pad_token = bos_token, eos_token, pad_token
        self.chat_template = chat_template
        self.add_bos_token = add_bos_token
        self.template_origin = "the chat template"  # where it came from, for its errors
        # a GGUF file's tokenizer.* metadata, as read: what a GGUF file written from it keeps
        self.gguf: dict[str, Any] | None = None

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str]) -> Tokenizer:
        """tokenizer.json, with tokenizer_config.json's special tokens and chat template."""
        folder = Path(folder)
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"{folder}: no tokenizer.json")
        config: dict[str, Any] = {}
        origin = f"{folder / 'tokenizer_config.json'}: chat_template"
        if (folder / "tokenizer_config.json").is_file():
            try:  # nested too deep for the parser is a RecursionError: the same one error
                config = json.loads((folder / "tokenizer_config.json").read_text())
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
                raise ValueError(f"{folder / 'tokenizer_config.json'}: not JSON: {err}") \
                    from None
            if not isinstance(config, dict):
                raise ValueError(f"{folder / 'tokenizer_config.json'}: expected a JSON object")
        if config.get("chat_template") is None and (folder / "chat_template.jinja").is_file():
            config["chat_template"] = (folder / "chat_template.jinja").read_text()
            origin = str(folder / "chat_template.jinja")
        tokenizer = cls._from_config(Backend.from_file(str(path)), config)
        tokenizer.template_origin = origin
        return tokenizer

    @classmethod
    def _from_config(cls, backend: Backend, config: dict[str, Any]) -> Tokenizer:
        """The backend with tokenizer_config.json's special tokens and chat template."""
        def token(key: str) -> str | None:
            value = config.get(key)
            return value.get("content") if isinstance(value, dict) else value

        return cls(backend, bos_token=token("bos_token"), eos_token=token("eos_token"),
                   pad_token=token("pad_token"), chat_template=template_source(config),
                   add_bos_token=bool(config.get("add_bos_token", False)))

    @classmethod
    def from_gguf_fields(cls, fields: dict[str, Any]) -> Tokenizer:
        """The tokenizer a GGUF file describes (tokenizer.ggml.*): byte-level BPE (`gpt2`) or
        SentencePiece BPE (`llama`), built as transformers builds it from the same file."""
        _check_gguf_fields(fields)
        kind = fields.get("tokenizer.ggml.model")
        build = GGUF_TOKENIZERS.get(kind)  # type: ignore[arg-type]
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
        tokenizer = cls(backend, bos_token=token_at("tokenizer.ggml.bos_token_id"),
                        eos_token=token_at("tokenizer.ggml.eos_token_id"),
                        pad_token=token_at("tokenizer.ggml.padding_token_id"),
                        chat_template=fields.get("tokenizer.chat_template"),
                        add_bos_token=bool(add_bos))
        tokenizer.template_origin = "the GGUF file's tokenizer.chat_template"
        # numeric arrays copied out of the file (a GGUFArray is a view of its mapping)
        tokenizer.gguf = {k: (v.tolist() if v.code == "?" else array.array(v.code, v))
                          if isinstance(v, GGUFArray) else v
                          for k, v in fields.items() if k.startswith("tokenizer.")}
        return tokenizer

    def gguf_fields(self, rows: int | None = None) -> dict[str, Any]:
        """The tokenizer.* metadata of a GGUF file, as llama.cpp reads it: a tokenizer read
        from a GGUF file gives its own back; a byte-level BPE one whose pre-tokenization
        llama.cpp names (`_llama_cpp_pre`) is written as llama.cpp's converter writes it:
        the vocabulary in id order, each token's type, the merges, and as its converter does,
        unused `[PAD<id>]` tokens up to the embedding's `rows` (llama.cpp takes the vocabulary's
        size from the list). ValueError, saying why, for any other, or for a vocabulary
        larger than the embedding."""
        if self.gguf is not None:
            return dict(self.gguf)
        fields = self._byte_level_fields()
        tokens, types = fields["tokenizer.ggml.tokens"], fields["tokenizer.ggml.token_type"]
        if rows is not None and len(tokens) > rows:
            raise ValueError(f"its {len(tokens):,} tokens are more than the model's "
                             f"{rows:,} embedding rows")
        for i in range(len(tokens), rows or 0):
            tokens.append(f"[PAD{i}]")
            types.append(UNUSED)
        return fields

    def _byte_level_fields(self) -> dict[str, Any]:
        data = json.loads(self.backend.to_str())
        model = data.get("model") or {}
        decoder = (data.get("decoder") or {}).get("type", "nothing")
        unlike = next((kind for kind, differs in (
            (f"a {model.get('type', 'unknown')} model", model.get("type") != "BPE"),
            ("SentencePiece-style BPE (byte fallback)", model.get("byte_fallback")),
            ("BPE with a normalizer", data.get("normalizer") is not None),
            (f"BPE decoded by {decoder}", decoder != "ByteLevel")) if differs), None)
        if unlike is not None:
            raise ValueError(f"zoo writes the tokenizer of a GGUF file it read, or a byte-level "
                             f"BPE one (GPT-2's, with no normalizer); this one is {unlike}")
        pre = _llama_cpp_pre(data)
        vocab = self.backend.get_vocab(with_added_tokens=True)
        tokens = sorted(vocab, key=vocab.__getitem__)
        if [vocab[t] for t in tokens] != list(range(len(tokens))):
            raise ValueError("its token ids are not 0 to n - 1 without gaps, as GGUF lists them")
        added = {t.content: t.special for t in self.backend.get_added_tokens_decoder().values()}
        types = [CONTROL if added.get(t) else USER_DEFINED if t in added else NORMAL
                 for t in tokens]
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
        fields: dict[str, Any] = {
            "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": pre,
            "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": types,
            "tokenizer.ggml.merges": merges,
            "tokenizer.ggml.add_bos_token": self.add_bos_token}
        for key, token in (("bos", self.bos_token), ("eos", self.eos_token),
                           ("unknown", model.get("unk_token")), ("padding", self.pad_token)):
            if token is not None and token in vocab:
                fields[f"tokenizer.ggml.{key}_token_id"] = vocab[token]
        if self.chat_template:
            fields["tokenizer.chat_template"] = self.chat_template
        return fields

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

    def encode_chunks(self, text: str | TextFile, *,
                      chunk: int | None = None) -> Iterator[list[int]]:
        """`encode(text)`, a piece at a time: the ids of about `chunk` characters per piece, so
        that a long text never has all its ids (and the library's offsets) in memory at once;
        `text` may be a `zoo.files.text.TextFile`, so that the text is not whole either.

        Each piece is encoded from a token boundary of the previous one, chosen where the two
        encodings agree on every token of their overlap: tokenization there no longer depends
        on where the piece started, so the pieces join into exactly the ids of the whole text
        (where no boundary agrees, the piece is made longer, up to the whole text).
        """
        chunk = chunk or ENCODE_CHUNK
        if len(text) <= chunk:
            yield self.encode(text[0:len(text)])
            return
        start, size, first = 0, chunk, True
        tail: list[int] = []  # special tokens the post-processor puts after the text
        current = self.backend.encode(text[:size], add_special_tokens=True)
        while True:
            end = min(len(text), start + size)
            ids, offsets = current.ids, current.offsets
            if first:
                tail, specials = [], current.special_tokens_mask
                while ids and specials[len(ids) - 1] and offsets[len(ids) - 1] == (0, 0):
                    tail.insert(0, ids[-1])
                    ids, offsets = ids[:-1], offsets[:-1]
                bos = self.bos_token_id
                if self.add_bos_token and bos is not None and ids[:1] != [bos]:
                    ids, offsets = [bos, *ids], [(0, 0), *offsets]
            if end == len(text):
                yield ids + tail
                return
            cut = self._agreeing_cut(text, start, end, ids, offsets, size)
            if cut is None:  # no boundary agrees: a longer piece
                size *= 2
                current = self.backend.encode(text[start:start + size],
                                              add_special_tokens=first)
                continue
            index, position, current = cut
            yield ids[:index]
            start, size, first = position, chunk, False

    def _agreeing_cut(self, text: str | TextFile, start: int, end: int, ids: list[int],
                      offsets: list[tuple[int, int]], size: int) -> tuple[int, int, Any] | None:
        """A token boundary in the last quarter of the piece text[start:end] (encoded as `ids`,
        `offsets`) where the next piece, encoded from it, has the same tokens up to near `end`:
        (index of the token, its position in the text, the next piece's encoding)."""
        overlap = max(16, (end - start) // 4)
        margin = max(4, overlap // 8)  # the piece's last tokens may be cut short
        first = bisect.bisect_left(offsets, end - overlap - start, lo=1, key=lambda o: o[0])
        tries = 0
        for index in range(first, len(ids)):
            at, before = offsets[index][0], offsets[index - 1][1]
            if at < before or offsets[index] == (0, 0):
                continue
            if start + at >= end - 2 * margin or tries == 32:
                return None
            tries += 1
            position = start + at
            following = self.backend.encode(text[position:position + size],
                                             add_special_tokens=False)
            limit = end - margin
            ours = list(itertools.takewhile(
                lambda pair, limit=limit: pair[1][1] <= limit,
                ((i, (a + start, b + start)) for i, (a, b) in
                 zip(ids[index:], offsets[index:], strict=True))))
            theirs = list(itertools.takewhile(
                lambda pair, limit=limit: pair[1][1] <= limit,
                ((i, (a + position, b + position)) for i, (a, b) in
                 zip(following.ids, following.offsets, strict=True))))
            if ours and ours == theirs:
                return index, position, following
        return None

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def apply_chat_template(self, messages: Sequence[dict[str, str]], *,
                            add_generation_prompt: bool = True) -> str:
        """The prompt text for a conversation, by the checkpoint's own template, rendered
        within zoo.chat's limits (seconds, steps, characters); a template that fails, or breaks
        a limit, is one ValueError that names it (and its line, where known)."""
        if not self.chat_template:
            raise advised(ValueError, "this tokenizer has no chat template",
                          python="; pass chat=False", cli="; leave out --chat")
        return render_template(self.chat_template, self.template_origin,
                               messages=list(messages),
                               add_generation_prompt=add_generation_prompt,
                               bos_token=self.bos_token or "", eos_token=self.eos_token or "")


# --- GGUF vocabularies, one builder per tokenizer.ggml.model ------------------------------------

def _described(value: Any) -> str:
    """What a metadata value is, in the words of an error."""
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"a string of {len(value):,} characters"
    if isinstance(value, Sequence):
        item = getattr(value, "item_type", None) or (
            type(value[0]).__name__ if len(value) else "value")
        item = {"str": "string", "int": "integer", "bool": "boolean"}.get(item, item)
        return f"an array of {len(value):,} {item}s"
    return f"a {type(value).__name__}"


def _numeric(value: Any, kinds: tuple[type, ...]) -> bool:
    """An array of numbers of `kinds` (int; or int and float): a file's array says its type
    once, a list is checked item by item."""
    item = getattr(value, "item_type", None)
    if item is not None:
        return item != "bool" and (float in kinds or not item.startswith("float"))
    return isinstance(value, list | tuple) and all(
        isinstance(v, kinds) and not isinstance(v, bool) for v in value)


def _check_gguf_fields(fields: Any) -> None:
    """Every tokenizer.ggml.* key zoo reads has the type it must have, and the arrays that run
    along the vocabulary have its length: one ValueError naming the key, else."""
    def refuse(key: str, expected: str) -> None:
        raise ValueError(f"GGUF metadata {key} is {_described(fields[key])}; expected "
                         f"{expected}")

    tokens = fields.get("tokenizer.ggml.tokens")
    if tokens is None:
        raise ValueError("GGUF metadata lacks tokenizer.ggml.tokens (the vocabulary)")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        refuse("tokenizer.ggml.tokens", "an array of strings")
    n = len(tokens)
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.chat_template"):
        if key in fields and not isinstance(fields[key], str):
            refuse(key, "a string")
    for key in ("tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_space_prefix"):
        if key in fields and not isinstance(fields[key], bool):
            refuse(key, "a boolean")
    for key in ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"):
        value = fields.get(key)
        if key in fields and (isinstance(value, bool) or not isinstance(value, int)
                              or not 0 <= value < n):
            refuse(key, f"a token id below the vocabulary's {n:,}")
    for key, kinds, what in (("tokenizer.ggml.token_type", (int,), "integers"),
                             ("tokenizer.ggml.scores", (int, float), "numbers")):
        if key in fields and not _numeric(fields[key], kinds):
            refuse(key, f"an array of {what}, one per token")
        if key in fields and len(fields[key]) != n:
            refuse(key, f"one per token of tokenizer.ggml.tokens ({n:,})")
    merges = fields.get("tokenizer.ggml.merges")
    if merges is not None and (not isinstance(merges, list) or not all(
            isinstance(m, str) and " " in m for m in merges)):
        refuse("tokenizer.ggml.merges", "an array of strings 'left right' (two tokens and a "
                                        "space)")
    if fields.get("tokenizer.ggml.model") == "llama":
        long = next((i for i, t in enumerate(tokens) if len(t) > MAX_PIECE_CHARS), None)
        if long is not None:
            raise ValueError(f"GGUF metadata tokenizer.ggml.tokens[{long}] is "
                             f"{len(tokens[long]):,} characters long; zoo derives the merges "
                             f"of a SentencePiece vocabulary for tokens of at most "
                             f"{MAX_PIECE_CHARS} characters")
        gemma = str(fields.get("general.architecture", "")).startswith("gemma")
        if not gemma and "tokenizer.ggml.scores" not in fields:
            raise ValueError("GGUF metadata lacks tokenizer.ggml.scores, which rank a "
                             "SentencePiece vocabulary's merges")


def _byte_level(fields: dict[str, Any]) -> Backend:
    """GPT-2's byte-level BPE, with the split `tokenizer.ggml.pre` names."""
    tokens: list[str] = fields["tokenizer.ggml.tokens"]
    merges = [tuple(m.split(" ", 1)) for m in fields.get("tokenizer.ggml.merges", [])]
    pre = fields.get("tokenizer.ggml.pre", "default")
    if pre not in _PRE_SPLITS:
        raise ValueError(f"GGUF pre-tokenizer {pre!r} is not supported; zoo knows "
                         f"{', '.join(sorted(_PRE_SPLITS))}")
    vocab = {token: i for i, token in enumerate(tokens)}
    backend = Backend(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    backend.pre_tokenizer = _byte_level_split(_PRE_SPLITS[pre])
    backend.decoder = decoders.ByteLevel()
    return backend


def _byte_level_split(splits: tuple[str, ...]) -> Any:
    """llama.cpp's pre-tokenization: each expression splits the pieces (matches isolated),
    then bytes become GPT-2's printable characters."""
    return pre_tokenizers.Sequence(
        [*(pre_tokenizers.Split(Regex(r), behavior="isolated") for r in splits),
         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


# the pre-tokenizers of Hugging Face tokenizer.json files that are one of llama.cpp's, exactly
# (as JSON): GPT-2's byte level step (its own split), and SmolLM's digits before it
_HF_PRE = {
    "gpt-2": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
              "use_regex": True},
    "smollm": {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
         "use_regex": True}]},
}


def _llama_cpp_pre(tokenizer_json: dict[str, Any]) -> str:
    """The name llama.cpp gives a byte-level BPE tokenizer's pre-tokenization: one of zoo's
    own (read from a GGUF file), or a Hugging Face one of `_HF_PRE`; ValueError otherwise."""
    def tokens_only(step: Any) -> Any:  # trim_offsets moves offsets, never tokens
        if isinstance(step, dict):
            return {k: tokens_only(v) for k, v in step.items() if k != "trim_offsets"}
        return [tokens_only(v) for v in step] if isinstance(step, list) else step

    pre = tokens_only(tokenizer_json.get("pre_tokenizer"))
    for name, splits in _PRE_SPLITS.items():
        built = Backend(models.BPE())
        built.pre_tokenizer = _byte_level_split(splits)
        if pre == tokens_only(json.loads(built.to_str())["pre_tokenizer"]):
            return name
    found = next((name for name, known in _HF_PRE.items() if pre == tokens_only(known)), None)
    if found is None:
        raise ValueError(f"its pre-tokenizer ({json.dumps(pre)[:120]}) is not one whose "
                         f"llama.cpp name zoo knows ({', '.join(sorted(_PRE_SPLITS))}); "
                         f"llama.cpp's convert_hf_to_gguf.py names more")
    return found


def _merges(tokens: list[str], rank: dict[str, float]) -> list[tuple[str, str]]:
    """The merges a SentencePiece BPE vocabulary implies (the file lists none): every split of
    every token into two tokens of the vocabulary, best-ranked first, as transformers derives
    them. Only the splits whose two lengths are lengths of some token are tried, and tokens
    are at most MAX_PIECE_CHARS long (`_check_gguf_fields`), so the work is linear in the
    vocabulary's characters."""
    index = {token: i for i, token in enumerate(tokens)}
    lengths = {len(token) for token in index}
    # where a token of each length can split: both parts of lengths some token has
    splits = {size: [k for k in range(1, size) if k in lengths and size - k in lengths]
              for size in lengths}
    merges = []
    for token, score in rank.items():
        pairs = [(token[:k], token[k:]) for k in splits[len(token)]
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

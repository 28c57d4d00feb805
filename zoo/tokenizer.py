"""Text in, ids out: a thin layer over the `tokenizers` library.

A checkpoint's own `tokenizer.json` is used as is; a GGUF file's vocabulary and merges become a
byte-level BPE with the pre-tokenizer its `tokenizer.ggml.pre` names, every key's type checked.
Chat templates are the checkpoint's Jinja templates, rendered in a sandbox as transformers
renders them, within limits of time, steps and size (`BoundedSandbox`): a template is code
from a file, and a hostile one must not hang or exhaust memory.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import re
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
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
# the longest SentencePiece token whose merges are derived: deriving them tries every split of
# every token, so the work grows with the square of a token's length (published vocabularies'
# longest tokens have 16 to 31 characters)
MAX_PIECE_CHARS = 256

ENCODE_CHUNK = 1 << 14  # characters encoded at a time by `encode_chunks`

# a chat template's limits: wall-clock seconds, steps (loop iterations and calls) and the
# characters of any string or list it builds and of its output (real templates take
# milliseconds, a few hundred steps and a few kilobytes)
TEMPLATE_SECONDS = 5.0
TEMPLATE_STEPS = 200_000
TEMPLATE_CHARS = 1_000_000


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
                   pad_token=token("pad_token"), chat_template=_template(config),
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
        return tokenizer

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

    def encode_chunks(self, text: str, *, chunk: int | None = None) -> Iterator[list[int]]:
        """`encode(text)`, a piece at a time: the ids of about `chunk` characters per piece, so
        that a long text never has all its ids (and the library's offsets) in memory at once.

        Each piece is encoded from a token boundary of the previous one, chosen where the two
        encodings agree on every token of their overlap: tokenization there no longer depends
        on where the piece started, so the pieces join into exactly the ids of the whole text
        (where no boundary agrees, the piece is made longer, up to the whole text).
        """
        chunk = chunk or ENCODE_CHUNK
        if len(text) <= chunk:
            yield self.encode(text)
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

    def _agreeing_cut(self, text: str, start: int, end: int, ids: list[int],
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
        within TEMPLATE_SECONDS, TEMPLATE_STEPS and TEMPLATE_CHARS; a template that fails, or
        breaks a limit, is one ValueError that names it (and its line, where known)."""
        if not self.chat_template:
            raise advised(ValueError, "this tokenizer has no chat template",
                          python="; pass chat=False", cli="; leave out --chat")
        return render_template(self.chat_template, self.template_origin,
                               messages=list(messages),
                               add_generation_prompt=add_generation_prompt,
                               bos_token=self.bos_token or "", eos_token=self.eos_token or "")


# --- chat templates, bounded -------------------------------------------------------------------

class TemplateLimitError(ValueError):
    """A chat template that took too long, too many steps, or built too much."""


class _TemplateRaised(ValueError):
    """raise_exception() called by the template itself: its own message."""


def _template(config: dict[str, Any]) -> str | None:
    """tokenizer_config.json's chat_template: a string, or transformers' list of named
    templates ({"name", "template"}), of which the one named "default" is the chat template."""
    value = config.get("chat_template")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(t, dict) and isinstance(t.get("name"), str)
                                       and isinstance(t.get("template"), str) for t in value):
        return next((t["template"] for t in value if t["name"] == "default"), None)
    raise ValueError(f"tokenizer_config.json: chat_template is {type(value).__name__}; expected "
                     f"a string, or a list of {{\"name\", \"template\"}} objects")


def _size(value: Any) -> int:
    """How big a value is, for the limits: characters of a string, items of a list, and for an
    integer its digits (a huge power takes as long as a huge string)."""
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 3
    return 0


def _fits(size: int, what: str) -> None:
    if size > TEMPLATE_CHARS:
        raise TemplateLimitError(f"{what} would be {size:,} long; a chat template may build at "
                                 f"most {TEMPLATE_CHARS:,} characters (or items)")


# a %-format or str.format field whose width or precision has 7 digits or more, or is given
# by an argument (*): it could allocate gigabytes in one step
_WIDE_FORMAT = re.compile(r"%[-#0 +]*(?:\*|\d{7})|%[-#0 +]*\d*\.(?:\*|\d{7})"
                          r"|\{[^{}]*:[^{}]*\d{7}")


def _format_fits(text: Any) -> None:
    if isinstance(text, str) and _WIDE_FORMAT.search(text):
        raise TemplateLimitError("a format width or precision above 999,999 (or given as '*') "
                                 "is refused in a chat template")


def _grown(operator: str, left: Any, right: Any) -> int:
    """The size of `left operator right` before it is computed (the operators that can grow a
    value past the limits in one step)."""
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            return _size(left) + _size(right)
        if isinstance(left, int):
            left, right = right, left
        return _size(left) * right if isinstance(right, int) else 0
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            return max(1, _size(left)) * right
        return 0
    if operator == "%":
        _format_fits(left)
        return 0
    return _size(left) + _size(right)  # +


_GROWING_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join"}


def _method_grown(method: Any, args: tuple[Any, ...]) -> int:
    """The size of a string method's result before it is computed (the methods that can grow
    a string by much more than their arguments)."""
    text, name = method.__self__, method.__name__
    ints = [a for a in args if isinstance(a, int)]
    if name in ("center", "ljust", "rjust", "zfill"):
        return max([len(text), *ints])
    if name == "expandtabs":
        return len(text) + text.count("\t") * max([8, *ints])
    if name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        hits = text.count(args[0]) if args[0] else len(text) + 1
        return len(text) + hits * len(args[1])
    if name == "join" and args:
        items = args[0]
        count = len(items) if hasattr(items, "__len__") else TEMPLATE_CHARS + 1
        return count * len(text) + sum(_size(i) for i in items) if count <= TEMPLATE_CHARS \
            else count
    return 0


def _bounded_filters(filters: dict[str, Any]) -> dict[str, Any]:
    """Jinja's filters that can grow a string far past their arguments, each checked before it
    runs: center, indent, wordwrap, replace, join, format."""
    from jinja2 import Environment
    from jinja2.nodes import EvalContext

    def checked(name: str, grown: Callable[..., int]) -> Callable[..., Any]:
        run = filters[name]

        def filter_(*args: Any, **kwargs: Any) -> Any:
            given = [a for a in args if not isinstance(a, Environment | EvalContext)]
            _fits(grown(*given, **kwargs), f"the |{name} filter's result")
            return run(*args, **kwargs)

        if hasattr(run, "jinja_pass_arg"):  # the context or environment Jinja passes first
            filter_.jinja_pass_arg = run.jinja_pass_arg  # type: ignore[attr-defined]
        return filter_

    def text(value: Any) -> str:
        return value if isinstance(value, str) else str(value)

    def number(value: Any, default: int) -> int:
        return value if isinstance(value, int) else default

    def center(s: Any, width: Any = 80) -> int:
        return max(len(text(s)), number(width, 0))

    def indent(s: Any, width: Any = 4, *args: Any, **kwargs: Any) -> int:
        lines = text(s).count("\n") + 1
        return len(text(s)) + lines * (len(width) if isinstance(width, str) else
                                       number(width, 0))

    def wordwrap(s: Any, width: Any = 79, break_long_words: Any = True,
                 wrapstring: Any = None, *args: Any, **kwargs: Any) -> int:
        wrap = kwargs.get("wrapstring", wrapstring) or "\n"
        return len(text(s)) + (len(text(s)) // max(1, number(width, 1)) + 1) * _size(wrap)

    def replace(s: Any, old: Any = "", new: Any = "", *args: Any, **kwargs: Any) -> int:
        hits = text(s).count(old) if isinstance(old, str) and old else len(text(s)) + 1
        return len(text(s)) + hits * _size(new)

    def join(value: Any, d: Any = "", *args: Any, **kwargs: Any) -> int:
        count = len(value) if hasattr(value, "__len__") else 0
        if count > TEMPLATE_CHARS:
            return count
        return count * _size(d) + sum(_size(item) for item in value)

    def format_(value: Any, *args: Any, **kwargs: Any) -> int:
        _format_fits(value)
        return 0

    grown = {"center": center, "indent": indent, "wordwrap": wordwrap, "replace": replace,
             "join": join, "format": format_}
    return {**filters, **{name: checked(name, size) for name, size in grown.items()}}


def _sandbox() -> Any:
    """Jinja's immutable sandbox, bounded: every loop iteration and call is a step, checked
    against TEMPLATE_STEPS and the clock; every operator, string method and filter that can
    grow a value is checked against TEMPLATE_CHARS before it runs, and every `~` after."""
    from jinja2 import nodes
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.visitor import NodeTransformer

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def __init__(self) -> None:
            super().__init__(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
            self.steps, self.deadline = 0, time.monotonic() + TEMPLATE_SECONDS
            self.filters = _bounded_filters(self.filters)
            self.globals.pop("lipsum", None)  # its n is a size: nothing a chat needs
            self.globals[_LOOP] = self.loop
            self.globals[_CHECK] = self.check

        def step(self) -> None:
            self.steps += 1
            if self.steps > TEMPLATE_STEPS:
                raise TemplateLimitError(f"it took more than {TEMPLATE_STEPS:,} steps (loop "
                                         f"iterations and calls)")
            if not self.steps % 64 and time.monotonic() > self.deadline:
                raise TemplateLimitError(f"it ran for more than {TEMPLATE_SECONDS:g} seconds")

        def loop(self, iterable: Any) -> Iterator[Any]:
            for item in iterable:
                self.step()
                yield item

        def check(self, value: Any) -> Any:
            _fits(_size(value), "a joined string (~)")
            return value

        def call(__self, __context: Any, __obj: Any, *args: Any,
                 **kwargs: Any) -> Any:
            __self.step()
            if getattr(__obj, "__name__", None) in _GROWING_METHODS and isinstance(
                    getattr(__obj, "__self__", None), str):
                _fits(_method_grown(__obj, args), f"str.{__obj.__name__}'s result")
            return super().call(__context, __obj, *args, **kwargs)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _fits(_grown(operator, left, right), f"the result of {operator!r}")
            return super().call_binop(context, operator, left, right)

        def wrap_str_format(self, value: Any) -> Any:
            _format_fits(getattr(value, "__self__", None))
            return super().wrap_str_format(value)

    class Bound(NodeTransformer):
        """Every for loop's iterable goes through the step counter, every `~` through the
        size check."""

        def visit_For(self, node: Any) -> Any:
            node = self.generic_visit(node)
            node.iter = nodes.Call(nodes.Name(_LOOP, "load"), [node.iter], [], None, None)
            return node

        def visit_Concat(self, node: Any) -> Any:
            node = self.generic_visit(node)
            return nodes.Call(nodes.Name(_CHECK, "load"), [node], [], None, None)

    return BoundedSandbox(), Bound()


_LOOP, _CHECK = "__zoo_bounded_loop", "__zoo_bounded_check"


def render_template(source: str, origin: str, **context: Any) -> str:
    """A chat template rendered in the bounded sandbox (`_sandbox`); any failure is one
    ValueError naming `origin` and the template's line where Jinja knows it."""
    from jinja2 import TemplateError, TemplateSyntaxError

    env, bound = _sandbox()

    def raise_exception(message: str) -> None:
        raise _TemplateRaised(message)

    env.globals["raise_exception"] = raise_exception
    try:
        if not isinstance(source, str):
            raise TypeError(f"the template is {type(source).__name__}, not a string")
        template = env.from_string(bound.visit(env.parse(source)))
        out, size = [], 0
        for chunk in template.generate(**context):
            size += len(chunk)
            _fits(size, "the rendered prompt")
            out.append(chunk)
        return "".join(out)
    except TemplateSyntaxError as err:
        raise ValueError(f"{origin}: line {err.lineno}: {err.message}") from None
    except _TemplateRaised as err:
        raise ValueError(f"{origin}: {err}") from None
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError,
            RecursionError, MemoryError) as err:
        lines = [frame.lineno for frame in traceback.extract_tb(err.__traceback__)
                 if frame.filename == "<template>"]
        where = f": line {lines[-1]}" if lines else ""
        reason = str(err) or type(err).__name__
        if isinstance(err, TemplateLimitError):
            reason = f"stopped: {reason}"
        raise ValueError(f"{origin}{where}: {reason}") from None


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

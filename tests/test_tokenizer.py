"""zoo.tokenizer on hostile input: GGUF vocabularies that would take minutes to build, GGUF
tokenizer metadata of the wrong types, and chat templates that would hang or exhaust memory.
Each is one ValueError that names the key or the template, in bounded time and memory."""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.files.crafted_gguf import ARRAY, INT32, STRING, write_gguf
from zoo.files.gguf import GGUFFile
from zoo.tokenizer import Tokenizer

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def at_most(seconds: int):
    """Fail (instead of hanging) past `seconds`: 100 times what the bounded code needs."""
    def expired(*_):
        raise AssertionError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def sentencepiece(tokens, **extra):
    return {"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.scores": [0.0] * len(tokens), **extra}


def test_a_600000_character_token_is_refused_at_once():
    """Deriving merges tried every split of every token: this vocabulary took minutes."""
    with at_most(30), pytest.raises(ValueError, match=r"tokenizer\.ggml\.tokens\[2\] is "
                                                      r"600,000 characters long; .* at most 256"):
        Tokenizer.from_gguf_fields(sentencepiece(["<unk>", "a", "a" * 600_000]))


def test_merges_are_transformers_merges():
    """Trying only the splits whose lengths are token lengths finds every merge
    transformers finds, in its order (`generate_merges` in transformers 5.25 gives
    `expected`)."""
    tokens = ["<unk>", "a", "b", "ab", "ba", "aab", "abab", "bab", "abba", "aaaaaaab", "aaaaaaa",
              "a" * 9, "b" * 5]
    scores = [float(-i) for i in range(len(tokens))]
    fields = {**sentencepiece(tokens), "tokenizer.ggml.scores": scores}
    backend = json.loads(Tokenizer.from_gguf_fields(fields).backend.to_str())
    expected = [("a", "b"), ("b", "a"), ("a", "ab"), ("ab", "ab"), ("a", "bab"), ("ba", "b"),
                ("b", "ab"), ("ab", "ba"), ("aaaaaaa", "b")]
    assert [tuple(m) for m in backend["model"]["merges"]] == expected


MALFORMED = [
    ("tokenizer.ggml.merges", [1, 2], "an array of 2 integers; expected an array of strings "
                                      "'left right'"),
    ("tokenizer.ggml.merges", ["ab"], "expected an array of strings 'left right'"),
    ("tokenizer.ggml.tokens", "abc", "a string of 3 characters; expected an array of strings"),
    ("tokenizer.ggml.token_type", [1], "expected one per token of tokenizer.ggml.tokens (3)"),
    ("tokenizer.ggml.token_type", ["x", "y", "z"], "expected an array of integers"),
    ("tokenizer.ggml.bos_token_id", 7, "the number 7; expected a token id below the "
                                       "vocabulary's 3"),
    ("tokenizer.ggml.add_bos_token", 1, "the number 1; expected a boolean"),
    ("tokenizer.ggml.pre", 3, "expected a string"),
    ("tokenizer.chat_template", [1], "expected a string"),
]


@pytest.mark.parametrize(("key", "value", "message"), MALFORMED, ids=lambda v: str(v)[:24])
def test_malformed_tokenizer_metadata_names_its_key(key, value, message):
    fields = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": ["a", "b", "ab"],
              "tokenizer.ggml.merges": ["a b"], key: value}
    with pytest.raises(ValueError, match=f"GGUF metadata {key} is .*{re.escape(message)}"):
        Tokenizer.from_gguf_fields(fields)


def test_merges_stored_as_integers_in_a_file(tmp_path):
    path = write_gguf(tmp_path / "t.gguf", {
        "tokenizer.ggml.model": (STRING, "gpt2"),
        "tokenizer.ggml.tokens": (ARRAY, (STRING, ["a", "b", "ab"])),
        "tokenizer.ggml.merges": (ARRAY, (INT32, [1, 2]))})
    with pytest.raises(ValueError, match=r"tokenizer\.ggml\.merges is an array of 2 int32s; "
                                         r"expected an array of strings"):
        Tokenizer.from_gguf_fields(GGUFFile(path).fields)
    sp = sentencepiece(["<unk>", "a"])
    with pytest.raises(ValueError, match=r"scores is .*; expected one per token"):
        Tokenizer.from_gguf_fields({**sp, "tokenizer.ggml.scores": [0.0]})


def chat(template: str) -> Tokenizer:
    tok = Tokenizer.from_gguf_fields({"tokenizer.ggml.model": "gpt2",
                                      "tokenizer.ggml.tokens": ["a", "b"],
                                      "tokenizer.ggml.merges": []})
    tok.chat_template = template
    return tok


def test_a_template_renders_as_before_and_its_errors_name_it():
    tok = chat("{% for m in messages %}<{{ m.role }}>{{ m.content ~ '!' }}{% endfor %}"
               "{{ '%s' % 'x' }}{{ 'a b'.replace(' ', '-') }}{{ ['p', 'q']|join(',') }}")
    assert tok.apply_chat_template([{"role": "user", "content": "hi"}]) == "<user>hi!xa-bp,q"
    with pytest.raises(ValueError, match=r"^the GGUF file's tokenizer\.chat_template: line 2: "):
        chat("ok\n{% for %}").apply_chat_template([])
    with pytest.raises(ValueError, match=r"^the GGUF file's tokenizer\.chat_template: no "
                                         r"system role$"):
        chat("{{ raise_exception('no system role') }}").apply_chat_template([])
    with pytest.raises(ValueError, match=r'tokenizer\.chat_template: line 1: .*"int"'):
        chat("{{ messages[0].content + 1 }}").apply_chat_template([{"content": "x"}])


HOSTILE = {
    "nested loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
                    "{% endfor %}",
    "string product": "{{ 'x' * 10000000000 }}",
    "list product": "{{ ([1] * 100000) * 100000 }}",
    "doubling": "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
                "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "adding": "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
              "{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "power": "{{ 7 ** 10000000000 }}",
    "center": "{{ 'x'|center(10000000000) }}",
    "ljust": "{{ 'x'.ljust(10000000000) }}",
    "percent": "{{ '%010000000000d' % 1 }}",
    "format": "{{ '{:>10000000000}'.format(1) }}",
    "replace": "{{ ('x' * 100000)|replace('x', 'y' * 100000) }}",
    "join": "{{ ('y' * 100000).join(range(100000)) }}",
    "output": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
    "recursion": "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
}


def test_hostile_templates_stop_with_one_error_in_bounded_time_and_memory():
    """Each template in a child process limited to 2 GB of address space and 120 s: the
    bounded renderer stops each within a second or two, with one line naming the template."""
    script = textwrap.dedent("""
        import json, sys
        from tests.test_tokenizer import HOSTILE, chat
        for name, template in HOSTILE.items():
            try:
                chat(template).apply_chat_template([{"role": "user", "content": "x"}])
                print(json.dumps([name, "rendered"]), flush=True)
            except ValueError as err:
                print(json.dumps([name, str(err)]), flush=True)
    """)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, preexec_fn=limit)
    results = dict(json.loads(line) for line in done.stdout.splitlines())
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(results) == set(HOSTILE)
    for name, message in results.items():
        assert message.startswith("the GGUF file's tokenizer.chat_template"), (name, message)
        assert "\n" not in message, (name, message)
    assert "steps" in results["nested loops"] and "stopped" in results["output"]


def test_a_tokenizer_config_nested_too_deep_is_one_error(tmp_path):
    from tokenizers import Tokenizer as Backend
    from tokenizers import models

    Tokenizer(Backend(models.BPE())).save(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"tokenizer_config\.json: not JSON: maximum recursion"):
        Tokenizer.from_folder(tmp_path)


@pytest.mark.parametrize(("pre", "pieces"), [
    # llama.cpp's default (a file naming none): punctuation runs, GPT-2's split, digit runs,
    # then threes of digits, each splitting the pieces before it (llama-vocab.cpp)
    ("default", ["x", "+=", "100", "0", ";", " it", "'", "s"]),
    ("gpt-2", ["x", "+=", "1000", ";", " it", "'s"]),
    ("smollm", ["x", "+=", "1", "0", "0", "0", ";", " it", "'s"]),
    ("llama-bpe", ["x", "+=", "100", "0", ";", " it", "'s"]),
    ("qwen2", ["x", "+=", "1", "0", "0", "0", ";", " it", "'s"]),
])
def test_byte_level_splits_as_llama_cpp_names_them(pre, pieces):
    tokens = [chr(c) for c in range(33, 127)]
    fields = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": pre,
              "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.merges": []}
    split = Tokenizer.from_gguf_fields(fields).backend.pre_tokenizer.pre_tokenize_str(
        "x+=1000; it's")
    assert [piece.replace("\u0120", " ") for piece, _ in split] == pieces

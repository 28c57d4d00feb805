"""zoo.fields: one declaration per setting, checked one way, said in the words of where the
value came from (a spec file, a Python call, a flag)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from zoo.fields import KINDS, SettingError, add_arguments, check, convert, given, setting


@dataclass(frozen=True)
class Example:
    count: int = setting("int", min=1, doc="how many")
    rate: float = setting("float", 0.5, min=0.0, max=1.0, expected="a probability, in [0, 1]",
                          doc="how often")
    mode: str = setting("enum", "fast", choices=("fast", "slow"), doc="which way")
    flag: bool = setting("bool", False, doc="whether")
    words: tuple[str, ...] | None = setting("strings?", None, doc="a word (repeatable)")
    hidden: int = setting("int", 3, cli=False, doc="not on the command line")


def test_each_kind_has_one_converter():
    assert {"int", "float", "bool", "enum", "str", "name", "count", "bytes", "nested",
            "token_ids", "strings"} <= set(KINDS)


@pytest.mark.parametrize(("dialect", "value", "message"), [
    ("python", True, "flag must be True or False, got 'yes'"),
    ("yaml", True, "flag: expected true or false, got 'yes'"),
    ("cli", True, "flag: expected true or false, got 'yes'"),
])
def test_a_bool_is_said_in_the_words_of_its_source(dialect, value, message):
    with pytest.raises(SettingError) as info:
        convert("flag", "yes", {"kind": "bool"}, dialect)
    assert str(info.value) == message


def test_ranges_and_overrides():
    with pytest.raises(SettingError, match="count must be a positive integer, got 0"):
        check(Example, {"count": 0}, dialect="python")
    with pytest.raises(SettingError, match=r"count: expected an integer >= 1, got 0"):
        check(Example, {"count": 0}, dialect="yaml")
    with pytest.raises(SettingError, match=r"rate must be a probability, in \[0, 1\], got 2"):
        check(Example, {"count": 1, "rate": 2}, dialect="python")
    with pytest.raises(SettingError, match="rate must be a probability"):  # even for a string
        check(Example, {"count": 1, "rate": "often"}, dialect="python")
    assert check(Example, {"count": 1, "rate": 1}, dialect="python") == {"count": 1, "rate": 1.0}
    # a file or a flag may write a number as text; a Python call passes numbers
    assert check(Example, {"count": 1, "rate": "0.25"}, dialect="yaml")["rate"] == 0.25
    with pytest.raises(SettingError, match="a probability"):
        check(Example, {"count": 1, "rate": "0.25"}, dialect="python")


def test_unknown_and_missing_names():
    with pytest.raises(SettingError, match=r"unknown field \(did you mean 'count'\?\)"):
        check(Example, {"coutn": 1}, dialect="yaml")
    with pytest.raises(SettingError, match="count: required field is missing"):
        check(Example, {}, dialect="yaml")


def test_flags_come_from_the_declarations():
    parser = argparse.ArgumentParser()
    add_arguments(parser, Example)
    flags = {a.option_strings[0]: a for a in parser._actions if a.option_strings}
    assert set(flags) == {"-h", "--count", "--rate", "--mode", "--flag", "--words"}
    assert "(default: 0.5)" in flags["--rate"].help and "(default: fast)" in flags["--mode"].help
    args = parser.parse_args(["--count", "4", "--words", "a", "--words", "b"])
    assert given(args, Example) == {"count": 4, "words": ["a", "b"]}  # the rest: declared
    assert Example(**given(args, Example)).rate == 0.5


@pytest.mark.parametrize(("argv", "message"), [
    (["--count", "abc"], "argument --count: expected an integer, got 'abc'"),
    (["--count", "0"], "argument --count: expected a positive integer, got '0'"),
    (["--rate", "nan"], "argument --rate: expected a probability, in [0, 1], got 'nan'"),
    (["--mode", "medium"], "argument --mode: invalid choice: 'medium'"),
])
def test_bad_flags_are_said_in_flag_terms(argv, message, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser, Example)
    with pytest.raises(SystemExit):
        parser.parse_args(argv)
    err = capsys.readouterr().err
    assert message in err and "_" not in err.split("error:")[1].split("argument")[0]

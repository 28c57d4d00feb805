import pytest

from zoo.units import human_bytes, human_count, human_flops, parse_bytes, parse_count


@pytest.mark.parametrize(("text", "expected"), [
    ("117M", 117_000_000), ("1.5B", 1_500_000_000), ("175B", 175 * 10**9),
    ("124,439,808", 124_439_808), (124439808, 124439808), ("6.7b", 6_700_000_000),
    ("13.0B", 13 * 10**9), ("1542M", 1_542_000_000), ("70K", 70_000), (1.5e9, 1_500_000_000),
    ("1,542M", 1_542_000_000), ("1.17e8", 117_000_000), ("1542000000", 1_542_000_000),
    ("1.5e+9", 1_500_000_000), ("175 billion", 175 * 10**9), ("1_000", 1000), ("+12", 12),
])
def test_parse_count(text, expected):
    assert parse_count(text) == expected


@pytest.mark.parametrize("bad", ["", "M", "1.5Q", "abc", True, None, [], "1.2345K", "12,34",
                                 "1,54M", 1.5, float("nan"), float("inf"), "1.5.2", "e8"])
def test_parse_count_rejects(bad):
    with pytest.raises(ValueError):
        parse_count(bad)


@pytest.mark.parametrize("negative", ["-12", -12, "-1.5B", -1e9])
def test_parse_count_says_negative(negative):
    with pytest.raises(ValueError, match="cannot be negative"):
        parse_count(negative)


def test_parse_bytes_decimal_and_binary():
    assert parse_bytes("80GB") == 80 * 10**9
    assert parse_bytes("80GiB") == 80 * 2**30
    assert parse_bytes("512 MiB") == 512 * 2**20
    assert parse_bytes("2T") == 2 * 10**12
    assert parse_bytes("1000B") == 1000 and parse_bytes(1000) == 1000  # an int is bytes
    with pytest.raises(ValueError):
        parse_bytes("80 parsecs")
    with pytest.raises(ValueError, match="cannot be negative"):
        parse_bytes("-5GB")


def test_parse_bytes_needs_a_unit_and_suggests_one():
    with pytest.raises(ValueError, match=r"'80' has no unit; did you mean '80GB'\?"):
        parse_bytes("80")


def test_human():
    assert human_count(124_439_808) == "124.4M"
    assert human_count(1_557_611_200) == "1.558B"
    assert human_count(1_300_000_000) == "1.3B"
    assert human_count(174_604_259_328) == "174.6B"
    assert human_count(999) == "999"
    assert human_bytes(497_758_432) == "497.8 MB"
    assert human_bytes(350 * 10**9) == "350 GB"


@pytest.mark.parametrize(("fmt", "n", "text"), [
    (human_count, 999_960_000, "1.000B"), (human_count, 999_999, "1.000M"),
    (human_bytes, 999_960_000_000, "1.000 TB"), (human_bytes, 999_999_999, "1.000 GB"),
    (human_flops, 999_999_999_999, "1.000 TFLOP"),
])
def test_human_rolls_over(fmt, n, text):
    assert fmt(n) == text


def test_human_keeps_the_figures_of_a_rounded_value():
    """GPT-3 175B's non-embedding count is 173,961,535,488: "174.0B", never a round "174B"
    (which reads as a figure given to three digits, and as the paper's 175B rounded)."""
    assert human_count(173_961_535_488) == "174.0B"
    assert human_count(774_030_080) == "774.0M"
    assert human_count(174_000_000_000) == "174B"  # exact: nothing was rounded away
    assert human_bytes(9_663_676_416) == "9.664 GB"

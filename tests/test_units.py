import pytest

from zoo.units import human_bytes, human_count, parse_bytes, parse_count


@pytest.mark.parametrize(("text", "expected"), [
    ("117M", 117_000_000), ("1.5B", 1_500_000_000), ("175B", 175 * 10**9),
    ("124,439,808", 124_439_808), (124439808, 124439808), ("6.7b", 6_700_000_000),
    ("13.0B", 13 * 10**9), ("1542M", 1_542_000_000), ("70K", 70_000), (1.5e9, 1_500_000_000),
])
def test_parse_count(text, expected):
    assert parse_count(text) == expected


@pytest.mark.parametrize("bad", ["", "M", "1.5Q", "abc", True, None, [], "1.2345K"])
def test_parse_count_rejects(bad):
    with pytest.raises(ValueError):
        parse_count(bad)


def test_parse_bytes_decimal_and_binary():
    assert parse_bytes("80GB") == 80 * 10**9
    assert parse_bytes("80GiB") == 80 * 2**30
    assert parse_bytes("512 MiB") == 512 * 2**20
    assert parse_bytes("2T") == 2 * 10**12
    with pytest.raises(ValueError):
        parse_bytes("80 parsecs")


def test_human():
    assert human_count(124_439_808) == "124.4M"
    assert human_count(1_557_611_200) == "1.558B"
    assert human_count(1_300_000_000) == "1.3B"
    assert human_count(174_604_259_328) == "174.6B"
    assert human_count(999) == "999"
    assert human_bytes(497_758_432) == "497.8 MB"
    assert human_bytes(350 * 10**9) == "350 GB"

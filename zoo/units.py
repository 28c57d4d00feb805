"""Counts and sizes as people write them ("117M", "1.5B", "80GB") and as zoo prints them."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# bytes per parameter, by the names zoo uses everywhere (weights, KV cache, plans, --dtype)
DTYPE_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5}
FLOAT_DTYPES = ("fp32", "bf16", "fp16")  # what a model can compute in
QUANTIZATIONS = ("bf16", "int8", "int4")  # how zoo.quantize can pack weights (its MODES)
DTYPE_ALIASES = {"float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16",
                 "half": "fp16"}


def check_quantization(mode: str) -> str:
    """`mode` if zoo.quantize can pack weights that way, else a ValueError naming the ways."""
    if mode not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {mode!r}; expected one of "
                         f"{', '.join(QUANTIZATIONS)}")
    return mode


def canonical_dtype(name: str, allowed: tuple[str, ...] = tuple(DTYPE_BYTES)) -> str:
    """'bfloat16', 'torch.bfloat16', 'BF16' -> 'bf16'; anything else is a ValueError that lists
    what `allowed` takes."""
    key = name.lower().removeprefix("torch.") if isinstance(name, str) else name
    key = DTYPE_ALIASES.get(key, key)
    if key not in allowed:
        raise ValueError(f"unknown dtype {name!r}; expected one of {', '.join(allowed)}")
    return key


# words and letters people put after a count, and their multipliers
_COUNT_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12,
                 "THOUSAND": 10**3, "MILLION": 10**6, "BILLION": 10**9, "TRILLION": 10**12}
_BYTE_SUFFIX = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
                "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
# a number as people write it: 1542000000, 1,542,000,000, 1_542_000_000, 1.542, 1.17e8; a sign
# (so that "-12" is refused as negative rather than as gibberish) and a unit after it
_NUMBER = re.compile(r"""^\s*(?P<sign>[-+]?)\s*
    (?P<number>(?:\d{1,3}(?:,\d{3})+|\d+(?:_\d+)*)(?:\.\d+)?(?:[eE][-+]?\d+)?)
    \s*(?P<unit>[a-zA-Z]*)\s*$""", re.VERBOSE)


def _split(text: str) -> tuple[Decimal, str]:
    match = _NUMBER.match(text)
    if not match:
        raise ValueError(f"not a number with an optional unit: {text!r}")
    number = Decimal(match["number"].replace(",", "").replace("_", ""))
    return (-number if match["sign"] == "-" else number), match["unit"].upper()


def parse_count(value: Any) -> int:
    """124439808, '124,439,808', '117M', '1.5B', '1,542M', '1.17e8', '175 billion' -> an
    integer count; negative or fractional counts are ValueErrors that say so."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"not a count: {value!r}")
    if isinstance(value, str):
        number, suffix = _split(value)
        if suffix not in _COUNT_SUFFIX:
            raise ValueError(f"unknown count unit {suffix!r} in {value!r} (use K, M, B or T)")
        number *= _COUNT_SUFFIX[suffix]
    else:
        number = Decimal(value)
        if not number.is_finite():
            raise ValueError(f"not a count: {value!r}")
    if number < 0:
        raise ValueError(f"a count cannot be negative: {value!r}")
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole count")
    return int(number)


def parse_bytes(value: Any) -> int:
    """'80GB' (10^9), '80GiB' (2^30), '512MB', 1000 (an int is bytes) -> bytes. Text needs a
    unit: '80' would be 80 bytes, never what was meant, so it is an error suggesting '80GB'."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a size: {value!r}")
    number, suffix = _split(value)
    if not suffix:
        raise ValueError(f"the size {value.strip()!r} has no unit; did you mean "
                         f"'{value.strip()}GB'? (units: B, MB, GB, TB, MiB, GiB, TiB)")
    if suffix in ("K", "M", "G", "T"):
        suffix += "B"
    if suffix not in _BYTE_SUFFIX:
        raise ValueError(f"unknown size unit in {value!r} (use B, MB, GB, TB, MiB, GiB, TiB)")
    if number < 0:
        raise ValueError(f"a size cannot be negative: {value!r}")
    return int(number * _BYTE_SUFFIX[suffix])


_COUNT_UNITS = (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3), ("", 1))
_BYTE_UNITS = ((" TB", 10**12), (" GB", 10**9), (" MB", 10**6), (" KB", 10**3), (" B", 1))
_FLOP_UNITS = ((" PFLOP", 10**15), (" TFLOP", 10**12), (" GFLOP", 10**9), (" MFLOP", 10**6),
               (" FLOP", 1))


def human_count(n: float, digits: int = 4) -> str:
    """124439808 -> "124.4M", 999960000 -> "1.000B", 1300000000 -> "1.3B" (see `human`)."""
    return human(n, _COUNT_UNITS, digits)


def human_bytes(n: float, digits: int = 4) -> str:
    """Decimal units, as model cards and GPU names use them: 497758432 -> "497.8 MB"."""
    return human(n, _BYTE_UNITS, digits)


def human_flops(n: float, digits: int = 4) -> str:
    return human(n, _FLOP_UNITS, digits)


def human(n: float, units: tuple[tuple[str, int], ...], digits: int = 4) -> str:
    """`n` to `digits` significant figures in the largest unit it reaches once rounded (so
    999,960,000 rolls over to "1.000B", never "1000M"). A rounded figure keeps its trailing
    zeros: 173,961,535,488 is "174.0B", which says four figures, not a round "174B". A figure
    shown exactly drops them: 1,300,000,000 is "1.3B" and 350e9 bytes "350 GB"."""
    exact = Decimal(n) if isinstance(n, int) else Decimal(repr(float(n)))
    rounded = exact
    if exact:
        rounded = exact.quantize(Decimal(1).scaleb(exact.adjusted() - digits + 1),
                                 rounding=ROUND_HALF_UP)
    suffix, scale = next(((s, f) for s, f in units if abs(rounded) >= f), units[-1])
    value = rounded / scale
    decimals = max(0, digits - len(str(int(abs(value)))))
    text = f"{value:.{decimals}f}"
    if rounded == exact and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + suffix

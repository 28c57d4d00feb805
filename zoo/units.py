"""Counts and sizes as people write them ("117M", "1.5B", "80GB") and as zoo prints them."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

# bytes per parameter, by the names zoo uses everywhere (weights, KV cache, plans, --dtype)
DTYPE_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5}
FLOAT_DTYPES = ("fp32", "bf16", "fp16")  # what a model can compute in
DTYPE_ALIASES = {"float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16",
                 "half": "fp16"}


def canonical_dtype(name: str, allowed: tuple[str, ...] = tuple(DTYPE_BYTES)) -> str:
    """'bfloat16', 'torch.bfloat16', 'BF16' -> 'bf16'; anything else is a ValueError that lists
    what `allowed` takes."""
    key = name.lower().removeprefix("torch.") if isinstance(name, str) else name
    key = DTYPE_ALIASES.get(key, key)
    if key not in allowed:
        raise ValueError(f"unknown dtype {name!r}; expected one of {', '.join(allowed)}")
    return key


_COUNT_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}
_BYTE_SUFFIX = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
                "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
_NUMBER = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def _split(text: str) -> tuple[Decimal, str]:
    match = _NUMBER.match(text)
    if not match:
        raise ValueError(f"not a number with an optional unit: {text!r}")
    try:
        return Decimal(match.group(1).replace(",", "").replace("_", "")), match.group(2).upper()
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None


def parse_count(value: Any) -> int:
    """124439808, '124,439,808', '117M', '1.5B', '175B' -> an integer count."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a count")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"not a count: {value!r}")
    number, suffix = _split(value)
    if suffix not in _COUNT_SUFFIX:
        raise ValueError(f"unknown count unit {suffix!r} in {value!r} (use K, M, B or T)")
    result = number * _COUNT_SUFFIX[suffix]
    if result != result.to_integral_value():
        raise ValueError(f"{value!r} is not a whole count")
    return int(result)


def parse_bytes(value: Any) -> int:
    """'80GB' (10^9), '80GiB' (2^30), '512MB', 1000 -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a size: {value!r}")
    number, suffix = _split(value)
    suffix = suffix or "B"
    if suffix in ("K", "M", "G", "T"):
        suffix += "B"
    if suffix not in _BYTE_SUFFIX:
        raise ValueError(f"unknown size unit in {value!r} (use B, MB, GB, TB, MiB, GiB, TiB)")
    return int(number * _BYTE_SUFFIX[suffix])


def human_count(n: float, digits: int = 4) -> str:
    """124439808 -> "124.4M", 1557611200 -> "1.558B" (four significant digits)."""
    for suffix, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= scale:
            return f"{_sig(n / scale, digits)}{suffix}"
    return _sig(n, digits)


def human_bytes(n: float, digits: int = 4) -> str:
    """Decimal units, as model cards and GPU names use them: 497758432 -> "497.8 MB"."""
    for suffix, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if abs(n) >= scale:
            return f"{_sig(n / scale, digits)} {suffix}"
    return f"{_sig(n, digits)} B"


def human_flops(n: float) -> str:
    for suffix, scale in (("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6)):
        if abs(n) >= scale:
            return f"{_sig(n / scale, 4)} {suffix}FLOP"
    return f"{_sig(n, 4)} FLOP"


def _sig(x: float, digits: int) -> str:
    if x == int(x) and abs(x) < 10**digits:
        return str(int(x))
    decimals = max(0, digits - len(str(int(abs(x)))))
    text = f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text

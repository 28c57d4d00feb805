"""zoo: a model zoo and parameter-accounting registry for decoder-only language models.

`import zoo` is cheap: the spec and accounting API needs only PyYAML, and the parts that need
torch (models, weights, generation) are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from zoo.accounting import ParamCount, count_params
from zoo.registry import (
    UnknownModelError,
    families,
    get_spec,
    list_models,
    register_specs,
)
from zoo.spec import ModelSpec, SpecError

__version__ = "0.1.0"

# name -> module that defines it; imported on first attribute access (PEP 562)
_LAZY: dict[str, str] = {
    "Model": "zoo.model",
    "ModelTooLargeError": "zoo.model",
    "create_model": "zoo.model",
    "KVCache": "zoo.cache",
    "save": "zoo.weights",
    "load": "zoo.weights",
    "WeightsError": "zoo.safetensors_io",
    "from_hf": "zoo.convert.hf",
    "to_hf": "zoo.convert.hf",
    "from_gguf": "zoo.convert.gguf",
    "Tokenizer": "zoo.tokenizer",
    "generate": "zoo.generation",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ModelSpec",
    "ParamCount",
    "SpecError",
    "UnknownModelError",
    "count_params",
    "families",
    "get_spec",
    "list_models",
    "register_specs",
    *_LAZY,
]

"""zoo: a model zoo and parameter-accounting registry for decoder-only language models.

`import zoo` imports nothing: every name below, and every subpackage (`zoo.registry`), is
imported on first use; the spec and accounting API needs only PyYAML, the parts that need
torch (models, weights, generation) import it when they are used. So the `zoo` command starts
its own Ctrl-C handling (`zoo.cli.main`) before any of zoo is loaded.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.accounting import ParamCount
    from zoo.spec import ModelSpec

__version__ = "0.1.0"

# name -> module that defines it; imported on first attribute access (PEP 562)
_LAZY: dict[str, str] = {
    "ParamCount": "zoo.accounting",
    "families": "zoo.accounting",
    "list_models": "zoo.accounting",
    "UnknownModelError": "zoo.registry",
    "get_spec": "zoo.registry",
    "register_specs": "zoo.registry",
    "ModelSpec": "zoo.spec",
    "SpecError": "zoo.spec",
    "Model": "zoo.model",
    "ModelTooLargeError": "zoo.model",
    "KVCache": "zoo.model",
    "save": "zoo.checkpoints",
    "load": "zoo.checkpoints",
    "read_spec": "zoo.checkpoints",
    "WeightsError": "zoo.files",
    "from_hf": "zoo.checkpoints.hf",
    "to_hf": "zoo.checkpoints.hf",
    "from_gguf": "zoo.checkpoints.gguf",
    "to_gguf": "zoo.checkpoints.gguf",
    "quantize": "zoo.model.quantize",
    "Tokenizer": "zoo.tokenizer",
    "generate": "zoo.text",
    "shard": "zoo.distributed",
    "evaluate": "zoo.perplexity",
    "finetune": "zoo.training",
}


def count_params(name_or_spec: str | ModelSpec, *, head: str | None = None,
                 num_labels: int = 2) -> ParamCount:
    """The exact parameter count of a model (a registry name or a ModelSpec), by closed form;
    `head='classify'` adds the GPT paper's linear classifier (d_model x num_labels, no bias)."""
    from zoo import accounting
    from zoo.registry import get_spec

    return accounting.count_params(get_spec(name_or_spec), head=head, num_labels=num_labels)


def create_model(name_or_spec: str | ModelSpec, **options: Any) -> Any:
    """A model from the registry (or a ModelSpec); see `zoo.model.create_model` for the
    options (device, dtype, head, num_labels, pooling, dropout, seed, ignore_memory_limit)."""
    from zoo.model import create_model as create
    from zoo.registry import get_spec

    return create(get_spec(name_or_spec), **options)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:  # a subpackage or module (zoo.registry), imported on first use
        try:
            return import_module(f"zoo.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"zoo.{name}":
                raise
            raise AttributeError(f"module 'zoo' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ModelSpec",
    "ParamCount",
    "SpecError",
    "UnknownModelError",
    "count_params",
    "create_model",
    "families",
    "get_spec",
    "list_models",
    "register_specs",
    *_LAZY,
]

"""The decoder and how it decodes: one module whose parts follow the spec's switches (`decoder`,
`layers`), its KV cache (`cache`), the generation engine under `Model.generate` (`generation`,
which sees a model only through its `Scorer` protocol), and the weights packed for CPU inference
(`quantize`). Built from a `ModelSpec`; the closed form in `zoo.accounting` is the independent
derivation the module is checked against, and neither imports the other.
"""

from __future__ import annotations

from zoo.model.cache import KVCache
from zoo.model.decoder import (
    POOLINGS,
    Model,
    ModelTooLargeError,
    check_fits,
    create_model,
    resolve_dtype,
)

__all__ = ["POOLINGS", "KVCache", "Model", "ModelTooLargeError", "check_fits", "create_model",
           "resolve_dtype"]

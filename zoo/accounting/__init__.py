"""Accounting by closed form, with no torch: exact parameters per component, memory, KV cache
and FLOPs (`params`), the registry sorted by them (`catalog`), and memory per device under FSDP
(`plan`). The closed form is one of two independent derivations of every count: the module in
`zoo.model` is the other, and neither imports the other, so each checks the other.
"""

from __future__ import annotations

from zoo.accounting.catalog import families, list_models
from zoo.accounting.params import (
    ACTIVE_CONVENTIONS,
    COMPONENTS,
    FLOPS_CONVENTION,
    MOE_COMPONENTS,
    NON_EMBEDDING_CONVENTION,
    RECURRENT_STATE_CONVENTION,
    TRAINING_MEMORY_CONVENTION,
    WEIGHT_BYTES_CONVENTION,
    Assumption,
    LayerCount,
    ParamCount,
    assumptions,
    caveated,
    caveats,
    count_params,
    kv_cache_width,
    layer_count,
    qk_norm_params,
    recurrent_state_width,
    resting_on,
)
from zoo.accounting.plan import Plan, make_plan

__all__ = ["ACTIVE_CONVENTIONS", "COMPONENTS", "FLOPS_CONVENTION", "MOE_COMPONENTS",
           "NON_EMBEDDING_CONVENTION", "RECURRENT_STATE_CONVENTION",
           "TRAINING_MEMORY_CONVENTION", "WEIGHT_BYTES_CONVENTION", "Assumption", "LayerCount",
           "ParamCount", "Plan",
           "assumptions", "caveated", "caveats", "count_params", "families", "kv_cache_width",
           "layer_count", "list_models", "make_plan", "qk_norm_params", "recurrent_state_width",
           "resting_on"]

"""`zoo plan`'s figures that rest on an assumed value say so, with the alternative beside them
(the plan's arithmetic itself is checked by hand in test_distributed.py)."""

from __future__ import annotations

import zoo
from zoo.accounting.plan import describe, make_plan


def test_gpt3_plan_shows_the_dense_kv_cache_beside_the_assumed_one():
    plan = make_plan(zoo.get_spec("gpt3-175b"), devices=8, device_memory=80 * 10**9)
    rows = dict(describe(plan))
    assert rows["KV cache bf16"] == ("5.134 GB [assumes the unpublished local_window 128; "
                                     "dense: 9.664 GB]")
    assert rows["total per device"].startswith("57.32 GB [") and "dense: 61.85 GB" in \
        rows["total per device"]
    assert rows["weights bf16 (sharded)"] == "43.65 GB"  # no assumption in it
    [caveat] = plan.to_dict()["caveats"]
    assert caveat["under_alternative"] == {"per_device.KV cache bf16": 9_663_676_416,
                                           "total_per_device": 61_848_634_368}


def test_plans_without_assumptions_carry_no_caveat():
    plan = make_plan(zoo.get_spec("bloom-176b"), devices=8, device_memory=80 * 10**9)
    assert plan.to_dict()["caveats"] == []
    assert not any("assumes" in shown for _, shown in describe(plan))

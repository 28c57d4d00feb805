"""`zoo site OUT/`: the catalogue as static pages that work from a file, with no server and no
network: an index that sorts and filters every model, a page per model (what `zoo show`
says, a breakdown chart, and a hardware planner that computes what `zoo plan` does), and a
compare page.

The pages are made from the rows `zoo show`, `compare` and `plan` print (`zoo.report`,
`zoo.accounting.plan.plan_inputs`), never from a second copy of the figures; the planner's
JavaScript is `zoo.accounting.plan.plan_parts` ported once, and the browser tests compare it
with `zoo plan --json`. Jinja2 (the `[site]` extra) renders the templates; no torch.
"""

from __future__ import annotations

from zoo.site.build import Site, build_site

__all__ = ["Site", "build_site"]

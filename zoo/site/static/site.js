// zoo site: sorting and filtering the index, the hardware planner and the compare page.
// Written by `zoo site`; no library, no network. The planner is zoo/accounting/plan.py's
// plan_parts ported line by line: every figure is an integer below 2**53, computed in the
// order Python computes it, so the page and `zoo plan --json` agree to the byte (the browser
// tests compare them).
"use strict";

(function () {
  // --- figures as zoo prints them (zoo/units.py `human`), exact for integers ----------------
  const COUNT_UNITS = [["T", 12], ["B", 9], ["M", 6], ["K", 3], ["", 0]];
  const BYTE_UNITS = [[" TB", 12], [" GB", 9], [" MB", 6], [" KB", 3], [" B", 0]];

  function human(n, units) {
    let exact = BigInt(n);
    const negative = exact < 0n;
    if (negative) exact = -exact;
    const digits = exact.toString();
    let rounded = exact;
    if (digits.length > 4) { // four significant figures, half up
      const unit = 10n ** BigInt(digits.length - 4);
      const kept = exact / unit;
      rounded = (kept + (2n * (exact % unit) >= unit ? 1n : 0n)) * unit;
    }
    let [suffix, power] = units[units.length - 1];
    for (const [s, p] of units) {
      if (rounded >= 10n ** BigInt(p)) { suffix = s; power = p; break; }
    }
    const scale = 10n ** BigInt(power);
    const whole = (rounded / scale).toString();
    const decimals = Math.max(0, 4 - whole.length);
    let text = whole;
    if (decimals) {
      const fraction = (rounded % scale).toString().padStart(power, "0");
      text += "." + fraction.padEnd(decimals, "0").slice(0, decimals);
    }
    if (rounded === exact && text.includes(".")) text = text.replace(/0+$/, "").replace(/\.$/, "");
    return (negative ? "-" : "") + text + suffix;
  }
  const humanBytes = (n) => human(n, BYTE_UNITS);
  const humanCount = (n) => human(n, COUNT_UNITS);
  const thousands = (n) => BigInt(n).toLocaleString("en-US");

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v; else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children) node.append(child);
    return node;
  }
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  }

  // --- the index: filters and sorting --------------------------------------------------------
  function initIndex() {
    const table = document.getElementById("models");
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const form = document.getElementById("filters");
    const shown = document.getElementById("shown");
    const value = (id) => document.getElementById(id).value;

    function apply() {
      const text = value("f-text").trim().toLowerCase();
      const family = value("f-family"), kind = value("f-kind"), license = value("f-license");
      const yearMin = Number(value("f-year-min") || -Infinity);
      const yearMax = Number(value("f-year-max") || Infinity);
      const sizeMin = Number(value("f-size-min") || 0);
      const sizeMax = Number(value("f-size-max") || Infinity);
      let count = 0;
      for (const row of rows) {
        const d = row.dataset;
        const year = d.year ? Number(d.year) : null;
        const total = Number(d.total);
        const yearsAsked = value("f-year-min") || value("f-year-max");
        const ok = (!text || d.text.includes(text)) && (!family || d.family === family)
          && (!kind || d.kind === kind) && (!license || d.license === license)
          && (!yearsAsked || (year !== null && year >= yearMin && year <= yearMax))
          && total >= sizeMin && total <= sizeMax;
        row.hidden = !ok;
        if (ok) count += 1;
      }
      shown.textContent = `${count} of ${rows.length} models`;
    }
    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    form.addEventListener("reset", () => setTimeout(apply));
    form.addEventListener("submit", (event) => event.preventDefault());

    const headers = Array.from(table.tHead.rows[0].cells);
    headers.forEach((th, column) => {
      const button = th.querySelector("button");
      if (!button) return;
      button.addEventListener("click", () => {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const numeric = th.dataset.type === "num";
        const key = (row) => row.cells[column].dataset.v;
        const sign = ascending ? 1 : -1;
        const sorted = rows.slice().sort((a, b) => {
          const x = key(a), y = key(b);
          if (x === "" || y === "") return (x === "") - (y === "");  // no figure: last
          const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
          return sign * order || a.dataset.name.localeCompare(b.dataset.name);
        });
        body.append(...sorted);
        rows.splice(0, rows.length, ...sorted);
      });
    });

    const link = document.getElementById("compare-link");
    body.addEventListener("change", () => {
      const picked = Array.from(body.querySelectorAll("input.pick:checked"), (c) => c.value);
      link.href = "compare.html" + (picked.length ? "#" + picked.join(",") : "");
      link.textContent = picked.length ? `Compare the ${picked.length} ticked models`
        : "Compare the ticked models";
    });
    apply();
  }

  // --- the planner: zoo/accounting/plan.py's plan_parts, ported -----------------------------
  const DTYPE_BYTES = { fp32: 4, bf16: 2, fp16: 2 };
  const MAX_DEVICES = 4096;

  function shardedShare(whole, devices) { return Math.ceil(whole / devices); }

  function activations(inputs, batch, context) {
    const s = context, b = batch, h = inputs.d_model, a = inputs.n_head;
    const kept = inputs.n_layer * s * b * h * 2;
    const oneLayer = Math.trunc(s * b * h * (34 + 5 * a * s / h));
    return kept + oneLayer;
  }

  function planParts(inputs, devices, train, dtype, batch, context) {
    const width = DTYPE_BYTES[dtype];
    const total = inputs.total, block = inputs.block;
    const gathered = Math.trunc((2 * block + inputs.root) * width);
    if (train) {
      return [["parameters fp32 (sharded)", shardedShare(4 * total, devices)],
        ["gradients fp32 (sharded)", shardedShare(4 * total, devices)],
        ["Adam moments fp32 (sharded)", shardedShare(8 * total, devices)],
        [`gathered blocks and root ${dtype}`, gathered],
        [`gathered block gradients ${dtype}`, Math.trunc(block * width)],
        ["activations (checkpointed)", activations(inputs, batch, context)],
        ["logits fp32 and their gradient", 2 * 4 * batch * context * inputs.vocab_size]];
    }
    let held = 0;
    for (const group of inputs.kv_groups) {
      held += group.layers * (group.cap === null ? context : Math.min(context, group.cap))
        * group.width;
    }
    const parts = [[`weights ${dtype} (sharded)`, shardedShare(Math.trunc(total * width), devices)],
      [`gathered blocks and root ${dtype}`, gathered],
      [`KV cache ${dtype}`, Math.trunc(batch * held * width)]];
    const recurrent = inputs.recurrent;
    if (recurrent !== null) {
      parts.push([`recurrent state ${dtype}`,
        Math.trunc(batch * recurrent.width * width)]);
    }
    return parts;
  }

  // Plan._figures: the plan for settings `s`, with the fewest devices that fit
  function planFigures(inputs, s) {
    const sum = (parts) => parts.reduce((acc, [, v]) => acc + v, 0);
    const fits = (devices) => sum(planParts(inputs, devices, s.train, s.dtype, s.batch,
      s.context)) <= s.memory;
    const parts = planParts(inputs, s.devices, s.train, s.dtype, s.batch, s.context);
    let smallest = null;
    if (fits(MAX_DEVICES)) {
      let low = 1, high = MAX_DEVICES;
      while (low < high) {
        const middle = Math.floor((low + high) / 2);
        if (fits(middle)) high = middle; else low = middle + 1;
      }
      smallest = low;
    }
    const total = sum(parts);
    return { parts, total, fits: total <= s.memory, smallest };
  }

  // the figures `caveats` compares (Plan._figures' numbers, flattened with dots)
  function leaves(figures, s) {
    const out = { devices: s.devices, device_memory: s.memory, batch_per_device: s.batch,
      context: s.context };
    for (const [name, v] of figures.parts) out["per_device." + name] = v;
    Object.assign(out, { total_per_device: figures.total, fits: figures.fits,
      smallest_fit: figures.smallest });
    return out;
  }

  function planCaveats(data, s, figures) {
    const mine = leaves(figures, s);
    const out = [];
    for (const a of data.assumptions) {
      const entry = { field: a.field, assumed: a.assumed, published: false,
        alternative: a.alternative, text: a.text };
      if (a.inputs === null) { out.push({ ...entry, under_alternative: null }); continue; }
      const theirs = leaves(planFigures(a.inputs, s), s);
      const changed = {};
      for (const key of Object.keys(mine)) if (theirs[key] !== mine[key]) changed[key] = theirs[key];
      if (Object.keys(changed).length) out.push({ ...entry, under_alternative: changed });
    }
    return out;
  }

  // what a figure's text adds for each assumption it rests on (accounting.caveated)
  function caveated(text, key, caveats, format) {
    let shown = text;
    for (const c of caveats) {
      if (c.under_alternative === null) {
        shown += ` [assumes the unpublished ${c.field} ${c.text}]`;
      } else if (key in c.under_alternative) {
        shown += ` [assumes the unpublished ${c.field} ${c.text}; ${c.alternative}: `
          + `${format(c.under_alternative[key])}]`;
      }
    }
    return shown;
  }

  function initPlanner() {
    const data = JSON.parse(document.getElementById("plan-data").textContent);
    const inputs = data.inputs;
    const form = document.getElementById("plan-form");
    const error = document.getElementById("plan-error");
    const get = (id) => document.getElementById(id);
    const integer = (id, label, min, max) => {
      const text = get(id).value.trim();
      const n = Number(text);
      if (!/^\d+$/.test(text) || n < min || n > max) {
        throw new Error(`${label} must be a whole number within ${min}..${max}, got '${text}'`);
      }
      return n;
    };

    function settings() {
      const amount = Number(get("plan-memory").value);
      if (!(amount > 0)) throw new Error("memory per device must be positive");
      const unit = get("plan-unit").value === "GiB" ? 2 ** 30 : 1e9;
      return {
        devices: integer("plan-devices", "devices", 1, Number.MAX_SAFE_INTEGER),
        memory: Math.floor(Number((amount * unit).toPrecision(15))),
        memoryText: `${get("plan-memory").value.trim()}${get("plan-unit").value}`,
        dtype: get("plan-dtype").value,
        batch: integer("plan-batch", "batch", 1, Number.MAX_SAFE_INTEGER),
        context: integer("plan-context", "context", 1, inputs.context_length),
        train: get("plan-train").checked,
      };
    }

    function render() {
      let s;
      try {
        s = settings();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        get("plan-table").hidden = true;
        return;
      }
      error.hidden = true;
      get("plan-table").hidden = false;
      const figures = planFigures(inputs, s);
      const caveats = planCaveats(data, s, figures);
      const body = get("plan-parts");
      body.replaceChildren(...figures.parts.map(([name, bytes]) => el("tr",
        { "data-part": name, "data-bytes": String(bytes) },
        el("th", { scope: "row", text: name }),
        el("td", { class: "n", text: caveated(humanBytes(bytes), "per_device." + name, caveats,
          humanBytes) }),
        el("td", { class: "n", text: thousands(bytes) }))));
      get("plan-total").textContent = thousands(figures.total);
      get("plan-total").dataset.bytes = String(figures.total);
      get("plan-total-human").textContent = caveated(humanBytes(figures.total),
        "total_per_device", caveats, humanBytes);
      get("plan-fits-label").textContent = `${s.devices} x ${humanBytes(s.memory)}`;
      const verdict = (fits) => (fits ? "fits" : "does NOT fit");
      get("plan-fits").textContent = caveated(verdict(figures.fits), "fits", caveats, verdict);
      get("plan-fits").dataset.fits = String(figures.fits);
      const count = (n) => (n === null
        ? "none: the unsharded part alone exceeds a device (lower the batch/context)" : String(n));
      get("plan-smallest").textContent = caveated(count(figures.smallest), "smallest_fit",
        caveats, count);
      get("plan-smallest").dataset.value = figures.smallest === null ? "" : String(figures.smallest);
      get("plan-caveats").replaceChildren(...caveats.map((c) => el("li", {
        "data-caveat": JSON.stringify(c),
        text: `The figures rest on the unpublished ${c.field} ${c.text}` + (c.under_alternative
          === null ? " (no alternative known)." : `; marked figures give their value under the `
          + `alternative (${c.alternative}).`) })));
      const name = /^[\w./-]+$/.test(data.cli_name) ? data.cli_name : `'${data.cli_name}'`;
      get("plan-command").textContent = `zoo plan ${name} --gpus ${s.devices} --gpu-memory `
        + `${s.memoryText} ${s.train ? "--train" : "--infer"} --dtype ${s.dtype} --batch ${s.batch}`
        + ` --context ${s.context}`;
      get("plan-command").dataset.settings = JSON.stringify(s);
    }
    form.addEventListener("input", render);
    form.addEventListener("change", render);
    form.addEventListener("submit", (event) => event.preventDefault());
    render();
  }

  // --- compare -------------------------------------------------------------------------------
  const COLORS = { embeddings: "#4c72b0", attention: "#dd8452", mlp: "#55a868",
    experts: "#64b5cd", norms: "#c44e52", head: "#8172b3", extras: "#937860" };

  // report.compare_rows: one row per fact, in the order they first appear, '-' where missing
  function compareRows(models) {
    const columns = models.map((m) => new Map(m.facts));
    const labels = [];
    for (const m of models) for (const [label] of m.facts) if (!labels.includes(label)) labels.push(label);
    return labels.map((label) => [label, ...columns.map((c) => (c.has(label) ? c.get(label) : "-"))]);
  }

  function scaleChart(models) {
    const dated = models.filter((m) => m.year);
    if (!dated.length) return el("p", { text: "None of these models has a year." });
    const w = 640, h = 300, left = 60, right = 20, top = 16, bottom = 36;
    const years = dated.map((m) => m.year), logs = dated.map((m) => Math.log10(m.total));
    const y0 = Math.min(...years) - 1, y1 = Math.max(...years) + 1;
    const l0 = Math.floor(Math.min(...logs)), l1 = Math.ceil(Math.max(...logs)) || l0 + 1;
    const x = (year) => left + (w - left - right) * (year - y0) / (y1 - y0);
    const y = (log) => h - bottom - (h - top - bottom) * (log - l0) / Math.max(1, l1 - l0);
    const chart = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img",
      "aria-label": "Parameters against year, log scale" });
    for (let p = l0; p <= l1; p++) {
      chart.append(svg("line", { x1: left, x2: w - right, y1: y(p), y2: y(p), class: "grid" }),
        svg("text", { x: left - 6, y: y(p) + 4, "text-anchor": "end",
          text: humanCount(10 ** p) }));
    }
    for (let year = Math.ceil(y0); year <= y1; year++) {
      chart.append(svg("text", { x: x(year), y: h - bottom + 18, "text-anchor": "middle",
        text: String(year) }));
    }
    dated.forEach((m, i) => {
      const cx = x(m.year), cy = y(Math.log10(m.total));
      chart.append(svg("circle", { cx, cy, r: 5, class: "dot" },
        svg("title", { text: `${m.name}: ${m.human} (${m.year})` })),
        svg("text", { x: cx + 8, y: cy - 6 + 12 * (i % 2), text: m.name, class: "label" }));
    });
    return chart;
  }

  function breakdownChart(models) {
    const w = 640, row = 30, left = 170, right = 10;
    const h = 10 + row * models.length + 30;
    const chart = svg("svg", { viewBox: `0 0 ${w} ${h}`, role: "img",
      "aria-label": "Share of the parameters by component" });
    models.forEach((m, i) => {
      const y = 10 + row * i;
      chart.append(svg("text", { x: left - 8, y: y + 17, "text-anchor": "end", text: m.name }));
      let at = left;
      for (const [segment, share] of Object.entries(m.shares)) {
        if (!share) continue;
        const width = (w - left - right) * share / 100;
        chart.append(svg("rect", { x: at, y: y + 3, width, height: 20, fill: COLORS[segment] },
          svg("title", { text: `${m.name}, ${segment}: ${share.toFixed(2)}%` })));
        at += width;
      }
    });
    let at = left;
    const legendY = 10 + row * models.length + 12;
    for (const [segment, color] of Object.entries(COLORS)) {
      chart.append(svg("rect", { x: at, y: legendY - 9, width: 10, height: 10, fill: color }),
        svg("text", { x: at + 14, y: legendY, text: segment, class: "legend" }));
      at += 16 + 7 * segment.length + 10;
    }
    return chart;
  }

  function initCompare() {
    const models = window.ZOO_MODELS || [];
    const byName = new Map(models.map((m) => [m.page, m]));  // a page: one model
    const list = document.getElementById("pick-list");
    const boxes = models.map((m) => {
      const box = el("input", { type: "checkbox", value: m.page, class: "pick" });
      list.append(el("label", { class: "pick-item", "data-text":
        `${m.name} ${m.family}`.toLowerCase() }, box, ` ${m.name} `,
        el("span", { class: "small", text: m.human })));
      return box;
    });
    let chosen = [];

    function fromHash() {
      const names = decodeURIComponent(location.hash.slice(1)).split(",").filter(Boolean);
      chosen = names.filter((n) => byName.has(n));
      for (const box of boxes) box.checked = chosen.includes(box.value);
      render();
    }

    function render() {
      const picked = chosen.map((n) => byName.get(n));
      const table = document.getElementById("compare-table");
      document.getElementById("compare-empty").hidden = picked.length > 0;
      document.getElementById("scale-figure").hidden = !picked.length;
      document.getElementById("breakdown-figure").hidden = !picked.length;
      if (!picked.length) { table.replaceChildren(); return; }
      const head = el("tr", {}, el("th", { scope: "col" }), ...picked.map((m) =>
        el("th", { scope: "col", "data-model": m.page },
          el("a", { href: `models/${m.page}.html`, text: m.name }))));
      const rows = compareRows(picked).map(([label, ...cells]) => el("tr", {},
        el("th", { scope: "row", text: label }), ...cells.map((c) => el("td", { text: c }))));
      table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
      document.getElementById("scale-chart").replaceChildren(scaleChart(picked));
      document.getElementById("breakdown-chart").replaceChildren(breakdownChart(picked));
    }

    list.addEventListener("change", (event) => {
      const box = event.target;
      chosen = box.checked ? [...chosen, box.value] : chosen.filter((n) => n !== box.value);
      history.replaceState(null, "", chosen.length ? "#" + chosen.join(",") : location.pathname);
      render();
    });
    document.getElementById("pick-filter").addEventListener("input", (event) => {
      const text = event.target.value.trim().toLowerCase();
      for (const item of list.children) item.hidden = !item.dataset.text.includes(text);
    });
    document.getElementById("pick-clear").addEventListener("click", () => {
      chosen = [];
      for (const box of boxes) box.checked = false;
      history.replaceState(null, "", location.pathname);
      render();
    });
    window.addEventListener("hashchange", fromHash);
    fromHash();
  }

  const page = document.body.dataset.page;
  if (page === "index") initIndex();
  else if (page === "model") initPlanner();
  else if (page === "compare") initCompare();
  window.zoo = { human, humanBytes, humanCount, planParts, planFigures };
})();

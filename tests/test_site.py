"""`zoo site`: the pages are written from the rows `zoo show`, `compare` and `plan` give, and
in a real browser (headless Chromium through Playwright, skipped where either is missing) the
index sorts and filters, a model page shows the exact total, the planner gives what
`zoo plan --json` gives, and compare shows the chosen models.

The site is built once per module for a handful of models (one of each kind the planner
must get right), and the browser is launched once."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("jinja2")

from zoo.accounting import count_params
from zoo.architectures import write_config
from zoo.cli import main
from zoo.registry import get_spec
from zoo.site import build_site
from zoo.units import human_bytes, human_count

MODELS = ("gpt2", "llama-3.1-8b", "mistral-7b-v0.1", "qwen3-30b-a3b", "qwen3-next-80b-a3b",
          "smollm2-135m", "gpt3-175b", "mixtral-8x7b")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def zoo_json(*argv: str) -> object:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*argv, "--json"]) == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    config = root / "small-gpt2" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps(write_config(get_spec("gpt2").with_changes(n_layer=3))))
    built = build_site(root / "out", MODELS, add=[config])
    return built, config


# --- the generator, no browser ----------------------------------------------------------------

def test_pages_come_from_the_report_rows(site):
    built, config = site
    out = built.out
    assert set(built.files) >= {"index.html", "compare.html", "assets/site.js", "assets/site.css",
                                "assets/models.js", *(f"models/{m}.html" for m in MODELS)}
    assert built.bytes == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    index = (out / "index.html").read_text()
    assert index.count('<tr data-name="') == len(MODELS) + 1
    page = (out / "models" / "mixtral-8x7b.html").read_text()
    count = count_params(get_spec("mixtral-8x7b"))
    assert f"{count.total:,}" in page and f"{count.active_by('no_embedding_no_head'):,}" in page
    assert "KV cache at 32768 tokens" in page  # summary_rows, as `zoo show` prints them
    gpt3 = (out / "models" / "gpt3-175b.html").read_text()
    assert "assumes the unpublished local_window 128" in gpt3  # the caveat travels
    added = (out / "models" / "small-gpt2.html").read_text()  # the file's own name
    small = count_params(get_spec("gpt2").with_changes(n_layer=3)).total
    assert str(config) in added and f"{small:,}" in added and 'data-name="small-gpt2"' in index


def test_nothing_is_fetched(site):
    """Scripts and styles are the site's own files, beside the pages: no CDN, no network (a
    link out, to a model's Hub page or its paper, is followed only when clicked)."""
    out = site[0].out
    for page in out.rglob("*.html"):
        text = page.read_text()
        loaded = re.findall(r'src="([^"]+)"', text) + re.findall(r'<link [^>]*href="([^"]+)"',
                                                                  text)
        assert loaded and not [ref for ref in loaded if re.match(r"^(\w+:)?//", ref)], page.name
        inside = [ref for ref in loaded + re.findall(r'<a href="([^"#][^"]*)"', text)
                  if not ref.startswith("https://")]
        for ref in inside:
            target = page.parent / ref.split("#")[0]
            assert target.is_file(), f"{page.name} links to missing {ref}"
    script = (out / "assets" / "site.js").read_text()
    assert "fetch(" not in script and "XMLHttpRequest" not in script


def test_the_folder_is_checked(tmp_path, capsys):
    assert main(["site", str(tmp_path / "missing" / "out"), "gpt2"]) == 2
    assert "does not exist; create it first" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["site", str(tmp_path / "file"), "gpt2"]) == 2
    assert "is a file" in capsys.readouterr().err
    data = zoo_json("site", str(tmp_path / "ok"), "gpt2")
    assert data["models"] == ["gpt2"] and data["index_bytes"] > 0
    assert not list((tmp_path / "ok").rglob(".*partial"))  # each file renamed into place
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "ok" / "assets").rename(tmp_path / "assets-before")
    (tmp_path / "ok" / "assets").symlink_to(tmp_path / "elsewhere")
    assert main(["site", str(tmp_path / "ok"), "gpt2"]) == 2
    assert "leads outside" in capsys.readouterr().err
    assert not list((tmp_path / "elsewhere").iterdir())


def test_missing_jinja2_names_the_extra(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "jinja2", None)
    assert main(["site", str(tmp_path / "out"), "gpt2"]) == 2
    assert "pip install 'zoo[site]'" in capsys.readouterr().err


# --- in a browser -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    tab.problems = []
    tab.on("console", lambda m: m.type in ("error", "warning") and tab.problems.append(m.text))
    tab.on("pageerror", lambda e: tab.problems.append(str(e)))
    yield tab
    context.close()


def shown_names(page) -> list[str]:
    return page.eval_on_selector_all("#models tbody tr:not([hidden])",
                                     "rows => rows.map(r => r.dataset.name)")


@pytest.mark.xdist_group("browser")
def test_index_sorts_and_filters(site, page):
    out = site[0].out
    page.goto((out / "index.html").as_uri())
    assert page.inner_text("#shown") == f"{len(MODELS) + 1} of {len(MODELS) + 1} models"
    totals = {name: count_params(get_spec(name)).total for name in MODELS}
    page.click("#models thead th:nth-child(5) button")  # total, ascending
    names = [n for n in shown_names(page) if n in totals]
    assert names == sorted(totals, key=totals.get)
    page.click("#models thead th:nth-child(5) button")  # descending
    assert [n for n in shown_names(page) if n in totals] == sorted(totals, key=totals.get)[::-1]
    page.select_option("#f-kind", "moe")
    assert sorted(shown_names(page)) == ["mixtral-8x7b", "qwen3-30b-a3b", "qwen3-next-80b-a3b"]
    page.select_option("#f-size-min", str(10**10))
    assert sorted(shown_names(page)) == ["mixtral-8x7b", "qwen3-30b-a3b", "qwen3-next-80b-a3b"]
    page.select_option("#f-size-max", str(3 * 10**10))
    assert shown_names(page) == []  # qwen3-30b-a3b has 30.53B
    page.click("#filters button[type=reset]")
    page.fill("#f-text", "mistral-7b")
    assert shown_names(page) == ["mistral-7b-v0.1"]
    page.fill("#f-text", "")
    page.select_option("#f-family", "gpt2")
    page.select_option("#f-year-min", "2019")
    assert shown_names(page) == ["gpt2"]
    assert page.problems == []


@pytest.mark.xdist_group("browser")
def test_model_page_shows_the_exact_total(site, page):
    page.goto((site[0].out / "models" / "qwen3-next-80b-a3b.html").as_uri())
    total = count_params(get_spec("qwen3-next-80b-a3b")).total
    assert page.inner_text("#total") == f"{total:,}"
    assert page.locator("svg[role=img] rect").count() >= 5  # the breakdown chart
    # the page's figures read as zoo prints them (units.human, ported), rounding edges included
    numbers = [0, 7, 999, 1000, 1234, 99995, 99994, 999_950_000, 497_758_432, 10**12,
               1_300_000_000, 173_961_535_488, 2**53 - 1]
    assert page.evaluate("ns => ns.map(n => [zoo.humanBytes(n), zoo.humanCount(n)])",
                         numbers) == [[human_bytes(n), human_count(n)] for n in numbers]
    assert page.problems == []


# (model, settings): dense, MoE, GQA, sliding window, training, an assumed value, linear layers
PLANS = [
    ("gpt2", {}),
    ("qwen3-30b-a3b", {"devices": "2", "memory": "24"}),
    ("llama-3.1-8b", {"dtype": "fp32", "batch": "4", "context": "8192"}),
    ("mistral-7b-v0.1", {"context": "32768", "batch": "3", "memory": "40", "unit": "GiB"}),
    ("smollm2-135m", {"train": True, "batch": "2", "context": "2048", "memory": "16"}),
    ("gpt3-175b", {"devices": "8", "dtype": "fp16", "batch": "2"}),
    ("qwen3-next-80b-a3b", {"devices": "3", "context": "100000", "batch": "2"}),
]


SET_PLANNER = """settings => {
    for (const [key, value] of Object.entries(settings)) {
        if (key === "train") document.getElementById("plan-train").checked = value;
        else document.getElementById("plan-" + key).value = value;
    }
    document.getElementById("plan-form").dispatchEvent(new Event("change"));
    const get = (id) => document.getElementById(id);
    return {command: get("plan-command").textContent, total: get("plan-total").dataset.bytes,
            fits: get("plan-fits").dataset.fits, smallest: get("plan-smallest").dataset.value,
            parts: Array.from(document.querySelectorAll("#plan-parts tr"),
                              (r) => [r.dataset.part, Number(r.dataset.bytes)]),
            caveats: Array.from(document.querySelectorAll("#plan-caveats li"),
                                (i) => i.dataset.caveat)};
}"""


@pytest.mark.xdist_group("browser")
def test_planner_equals_zoo_plan(site, page):
    out = site[0].out
    caveated = []
    for name, settings in PLANS:
        page.goto((out / "models" / f"{name}.html").as_uri())
        got = page.evaluate(SET_PLANNER, settings)  # one round trip: set, then read
        command = got["command"].split()
        assert command[:3] == ["zoo", "plan", name]
        expected = zoo_json(*command[1:])
        assert dict(got["parts"]) == expected["per_device"], name
        assert int(got["total"]) == expected["total_per_device"]
        assert got["fits"] == str(expected["fits"]).lower()
        assert (int(got["smallest"]) if got["smallest"] else None) == expected["smallest_fit"]
        caveats = [{k: v for k, v in json.loads(c).items() if k != "text"}
                   for c in got["caveats"]]
        assert caveats == expected["caveats"], name
        caveated += [name] if caveats else []
    assert caveated == ["gpt3-175b"]  # its KV cache and fit under the dense alternative
    page.fill("#plan-context", "999999999")
    assert "context must be a whole number within 1..262144" in page.inner_text("#plan-error")
    assert page.problems == []


@pytest.mark.xdist_group("browser")
def test_compare_shows_the_chosen_models(site, page):
    out = site[0].out
    page.goto((out / "compare.html").as_uri() + "#gpt2,mixtral-8x7b")
    heads = page.eval_on_selector_all("#compare-table thead th[data-model]",
                                      "cells => cells.map(c => c.dataset.model)")
    assert heads == ["gpt2", "mixtral-8x7b"]
    params = page.locator("#compare-table tbody tr", has_text="params (human)").inner_text()
    assert "124.4M" in params and "46.70B" in params
    page.check("#pick-list input[value='smollm2-135m']")
    assert page.locator("#compare-table thead th[data-model]").count() == 3
    assert page.locator("#breakdown-chart svg g, #breakdown-chart svg rect").count() > 3
    assert page.problems == []

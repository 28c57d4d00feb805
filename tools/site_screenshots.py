"""Build the whole site, photograph it in headless Chromium for the README (the index, a model
page, its planner), and measure it: the site's weight and the index's render time (the median
of several loads, from the browser's own navigation timing).

Usage: python tools/site_screenshots.py [--out docs] [--chromium /usr/bin/chromium]
Needs zoo[site] and playwright (the test extra) and a chromium; nothing is downloaded."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from zoo.site import build_site

ROOT = Path(__file__).resolve().parents[1]
MODEL = "qwen3-30b-a3b"  # a mixture of experts: every section of a model page has something
TIMING = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const paint = performance.getEntriesByName("first-contentful-paint")[0];
    return {dom: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
            paint: paint ? paint.startTime : null};
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs"), help="where the PNGs go")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--loads", type=int, default=7, help="index loads to time")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))

    with tempfile.TemporaryDirectory() as tmp:
        site = build_site(Path(tmp) / "site")
        print(f"built {len(site.models)} models, {len(site.files)} files in "
              f"{site.seconds:.2f} s: {site.bytes:,} bytes in all, index.html "
              f"{site.files['index.html']:,} bytes")
        out = Path(args.out)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            index = (site.out / "index.html").as_uri()
            blank = Path(tmp) / "blank.html"  # the floor: what any page costs on this machine
            blank.write_text("<!doctype html><title>-</title><p>-")
            for label, url in (("blank page", blank.as_uri()), ("index", index)):
                timings = []
                for _ in range(args.loads):
                    page.goto(url)
                    page.wait_for_load_state("load")
                    timings.append(page.evaluate(TIMING))
                for key in ("dom", "load", "paint"):
                    values = [t[key] for t in timings if t[key] is not None]
                    if values:
                        print(f"{label} {key}: median {statistics.median(values):.1f} ms over "
                              f"{len(values)} loads (min {min(values):.1f}, "
                              f"max {max(values):.1f})")
            page.select_option("#f-kind", "moe")
            page.click("#models thead th:nth-child(5) button")
            page.screenshot(path=out / "site-index.png")
            page.goto((site.out / "models" / f"{MODEL}.html").as_uri())
            page.screenshot(path=out / "site-model.png")
            page.fill("#plan-devices", "2")
            page.fill("#plan-memory", "24")
            page.fill("#plan-context", "8192")
            page.locator("#planner").screenshot(path=out / "site-planner.png")
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.goto(index)
            phone.screenshot(path=Path(tmp) / "phone.png")
            width = phone.evaluate("() => document.documentElement.scrollWidth")
            print(f"index on a 390 px phone: page width {width} px (the table scrolls inside)")
            browser.close()
        for name in ("site-index.png", "site-model.png", "site-planner.png"):
            print(f"wrote {out / name} ({(out / name).stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()

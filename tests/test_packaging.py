"""The wheel carries the specs: `zoo list` works from a non-editable install in a fresh venv."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE_DATA = ("zoo/site/templates/model.html.j2", "zoo/site/static/site.js")


def test_wheel_installs_and_lists(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(wheels), str(ROOT)], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{build.stdout}\n{build.stderr}")
    wheel = next(wheels.glob("zoo-*.whl"))
    import zipfile

    with zipfile.ZipFile(wheel) as archive:  # the site's templates and scripts are package data
        assert set(SITE_DATA) <= set(archive.namelist())
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    # run from an unrelated folder, so nothing can come from the source checkout
    listed = subprocess.run([str(env_dir / "bin" / "zoo"), "list"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "gpt3-175b" in listed.stdout and "bloom-176b" in listed.stdout
    where = subprocess.run([str(python), "-c", "import zoo.registry as r; "
                            "print(r.packaged_specs_dir())"], cwd=tmp_path, capture_output=True,
                           text=True)
    assert str(env_dir) in where.stdout, "specs must come from inside the installed package"
    # without an extra, a command that needs it says which one to install
    for argv, hint in ((["generate", "gpt2", "--prompt", "x"], "pip install 'zoo[torch]'"),
                       (["plot", "scale", "--out", str(tmp_path / "x.png")],
                        "pip install 'zoo[plot]'"),
                       (["site", str(tmp_path / "site")], "pip install 'zoo[site]'")):
        done = subprocess.run([str(env_dir / "bin" / "zoo"), *argv], cwd=tmp_path,
                              capture_output=True, text=True)
        assert done.returncode == 2 and hint in done.stderr, (argv, done.stderr)
        assert "Traceback" not in done.stderr


def test_sdist_carries_what_the_readme_links_to(tmp_path):
    """Every local file the README links to (pictures, DEVELOPERS.md) is in the sdist."""
    import re
    import tarfile

    built = subprocess.run([sys.executable, "-m", "build", "--sdist",
                            "--outdir", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    if built.returncode != 0:
        pytest.fail(f"building the sdist failed:\n{built.stdout[-2000:]}\n{built.stderr[-2000:]}")
    sdist = next(tmp_path.glob("zoo-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    readme = (ROOT / "README.md").read_text()
    linked = {m for m in re.findall(r"\]\(([^)#:]+)\)", readme) if (ROOT / m).is_file()}
    assert linked and linked <= names, sorted(linked - names)
    assert set(SITE_DATA) <= names

"""The documentation: every ```python block of docs/ runs (the blocks of one page in order, in
one namespace, in a scratch directory), and `mkdocs build --strict` passes (no warnings: no
broken links, anchors or cross-references into the API reference)."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# A fenced block opened by ```python at the start of a line, up to its closing fence.
BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```\s*$", re.M | re.S)
PAGES = sorted(p for p in DOCS.rglob("*.md"))
GUIDE = [p for p in PAGES if p.parent.name == "guide"]


def blocks(page: pathlib.Path):
    """(first line number, code) of each python block of a page."""
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in BLOCK.finditer(text)]


def test_the_guide_has_examples():
    # the page list and the extraction are what the other tests trust: check they found the guide
    names = {p.stem for p in GUIDE}
    assert {"data", "preprocessing", "models", "training", "evaluation", "tuning", "pitfalls"} <= names
    for page in GUIDE:
        assert blocks(page), f"{page.relative_to(ROOT)} has no python example"
    assert sum(len(blocks(p)) for p in PAGES) >= 30


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that save files write here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    namespace = {"__name__": f"docs_{page.stem}"}
    for line, code in blocks(page):
        try:
            exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"the example at {page.relative_to(ROOT)} line {line} failed: "
                                 f"{type(e).__name__}: {e}") from e


def test_mkdocs_build_strict(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                          str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("WARNING")]
    assert not warnings, "\n".join(warnings)
    # the API reference was rendered from the docstrings, one page per public package
    kernels = (site / "api" / "kernels" / "index.html").read_text(encoding="utf-8")
    assert 'id="pydl.kernels.gemm"' in kernels and "op(a)" in kernels
    layers = (site / "api" / "layers" / "index.html").read_text(encoding="utf-8")
    assert 'id="pydl.layers.Dense"' in layers
    for page in GUIDE:
        assert (site / "guide" / page.stem / "index.html").is_file()

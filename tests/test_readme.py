"""The README's Python code blocks run as written: every ```python block, in order, in one
namespace, in a temporary working directory (so files they write do not land in the repo)."""

import re
from pathlib import Path

import matplotlib
import pytest

README = Path(__file__).parent.parent / "README.md"
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```python fenced blocks of a Markdown text, in order."""
    return BLOCK.findall(text)


def test_block_extraction():
    """The extractor finds python blocks only, bodies exact, in order."""
    text = "x\n```python\na = 1\n```\n```bash\nls\n```\n```python\nb = a\nc = 2\n```\n"
    assert python_blocks(text) == ["a = 1\n", "b = a\nc = 2\n"]


def test_readme_has_python_blocks():
    assert python_blocks(README.read_text(encoding="utf-8")), "README lost its examples"


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    matplotlib.use("Agg")
    namespace = {"__name__": "__readme__"}
    for i, block in enumerate(python_blocks(README.read_text(encoding="utf-8"))):
        code = compile(block, f"README.md python block {i}", "exec")
        exec(code, namespace)  # noqa: S102 - executing the documented examples is the test

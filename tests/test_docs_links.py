"""Citations of the theory notes resolve, and the README's examples stand on their own.

The code, tests, tutorials and README cite the theory as ``docs/THEORY.md`` followed by a
section label (``A.6``, ``A.2–A.5``, ``Part B``, ``A.4 R2``, ``A.6, step 3``). These tests
check that the file exists (it is part of the repository, not a note kept elsewhere), that
every label cited anywhere in the repository is a heading of it (with the qualifier, such as
``R2`` or ``caveat``, present in that section), and that the user-facing files (README,
tutorials, model files, the package) cite it by its path from the repository root. The last
test checks that every python block of the README runs on its own: ``tests/test_readme.py``
executes the blocks in one shared namespace, which hides a block that uses a name only an
earlier block defines.
"""

from __future__ import annotations

import ast
import builtins
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THEORY = ROOT / "docs" / "THEORY.md"
THIS = Path(__file__).resolve()
SUFFIXES = {".py", ".md", ".rst", ".txt", ".toml", ".cfg"}
SKIP_DIRS = {".git", "build", "dist", "__pycache__", "node_modules"}

# ``THEORY.md`` as a file name (not ``SOME_THEORY.md``); ``docs/`` when cited by its path.
CITATION = re.compile(r"(?<![\w.-])((?:[\w.-]+/)*)THEORY\.md")
LABEL = r"(?:Part [ABC]|[ABC]\.\d+(?:\.\d+)*|§\s?\d+(?:\.\d+)*)"
LABELS = re.compile(rf"^[\s`*(]*,?\s*({LABEL}(?:\s*(?:,|–|—|-|to|and)\s*{LABEL})*)")
RANGE = re.compile(rf"({LABEL})\s*(?:–|—|-|to)\s*({LABEL})")
# What may follow the label and must then be found in the cited section.
QUALIFIER = re.compile(
    r"""^\s*[,:]?\s*\(?\s*(?:["“]([^"”]+)["”]|(R\d)\b|(caveat)\b|(step \d+)|(the remedy))""",
    re.IGNORECASE,
)
HEADING = re.compile(rf"^(#+)\s+({LABEL})[.:]?(?:\s|$)", re.MULTILINE)
ANY_HEADING = re.compile(r"^(#+)\s", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)


def repository_files() -> list[Path]:
    """Text files of the repository: tracked and untracked-but-not-ignored when git is there,
    else every file below the root outside build and cache folders."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        paths = [ROOT / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):
        paths = [
            p
            for p in ROOT.rglob("*")
            if not any(part in SKIP_DIRS or part.endswith(".egg-info") for part in p.parts)
        ]
    return sorted(p for p in paths if p.suffix in SUFFIXES and p.is_file() and p != THIS)


def flatten(tail: str) -> str:
    """A citation's continuation as one line: line breaks, comment markers and Markdown
    emphasis removed (``THEORY.md\\n# A.6`` in a notebook comment cites A.6)."""
    tail = re.sub(r"\s*\n\s*(?:#+\s*)?", " ", tail)
    return tail.replace("``", "").replace("`", "").replace("**", "")


def parse_citation(tail: str) -> tuple[list[str], str | None]:
    """``(labels, qualifier)`` of the text that follows ``THEORY.md``; ranges are expanded
    (``A.2–A.5`` cites A.2, A.3, A.4 and A.5)."""
    tail = flatten(tail)
    m = LABELS.match(tail)
    if not m:
        q = QUALIFIER.match(tail)
        return [], (q.group(1) if q and q.group(1) else None)
    group = m.group(1)
    labels = []
    for part in re.split(r"\s*(?:,|\band\b)\s*", group):
        r = RANGE.fullmatch(part.strip())
        if r:
            labels.extend(expand_range(r.group(1), r.group(2)))
        elif part.strip():
            labels.append(normalise(part.strip()))
    q = QUALIFIER.match(tail[m.end() :])
    qualifier = next((g for g in q.groups() if g), None) if q else None
    return labels, qualifier


def normalise(label: str) -> str:
    return re.sub(r"§\s+", "§", label)


def expand_range(first: str, last: str) -> list[str]:
    a, b = re.fullmatch(r"([ABC])\.(\d+)", first), re.fullmatch(r"([ABC])\.(\d+)", last)
    if a and b and a.group(1) == b.group(1) and int(a.group(2)) <= int(b.group(2)):
        return [f"{a.group(1)}.{k}" for k in range(int(a.group(2)), int(b.group(2)) + 1)]
    return [normalise(first), normalise(last)]


def citations() -> list[tuple[Path, int, str, list[str], str | None]]:
    """Every ``THEORY.md`` citation of the repository: ``(file, line, path prefix, labels,
    qualifier)``."""
    found = []
    for path in repository_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in CITATION.finditer(text):
            labels, qualifier = parse_citation(text[m.end() : m.end() + 160])
            line = text.count("\n", 0, m.start()) + 1
            found.append((path, line, m.group(1), labels, qualifier))
    return found


def sections(text: str) -> dict[str, str]:
    """``{label: text of the section, sub-sections included}`` of a Markdown file whose
    headings start with a label (``## A.6 ...``, ``#### A.6.4 ...``, ``## Part B. ...``)."""
    # headings outside fenced code blocks (a "# comment" line in a block is not one)
    prose = FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    every = [(m.start(), len(m.group(1))) for m in ANY_HEADING.finditer(prose)]
    out = {}
    for h in HEADING.finditer(prose):
        level = len(h.group(1))
        ends = [start for start, lvl in every if start > h.start() and lvl <= level]
        out[normalise(h.group(2))] = text[h.start() : min(ends, default=len(text))]
    return out


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("`", "").replace("**", "")).lower()


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def test_parser_reads_the_citation_forms_in_use():
    assert parse_citation(" A.6, step 3) and") == (["A.6"], "step 3")
    assert parse_citation(" A.2–A.5): the") == (["A.2", "A.3", "A.4", "A.5"], None)
    assert parse_citation(" A.2-A.5 and more") == (["A.2", "A.3", "A.4", "A.5"], None)
    assert parse_citation(" A.5, A.6, B.3).") == (["A.5", "A.6", "B.3"], None)
    assert parse_citation(" A.4 R2), exact") == (["A.4"], "R2")
    assert parse_citation(" A.5 (caveat).") == (["A.5"], "caveat")
    assert parse_citation(' A.6, "dynamical check").') == (["A.6"], "dynamical check")
    assert parse_citation(" Part B) read") == (["Part B"], None)
    assert parse_citation("\n# A.1, A.6). This") == (["A.1", "A.6"], None)
    assert parse_citation(" §3.2 says") == (["§3.2"], None)
    assert parse_citation(', "free energies"; Salakhutdinov') == ([], "free energies")
    assert parse_citation("` (two papers)") == ([], None)


def test_theory_file_exists():
    assert THEORY.is_file(), (
        "docs/THEORY.md is missing: README.md, the package's docstrings and the ergodicity "
        "reports' remedies cite it"
    )


def test_every_cited_label_is_a_section_of_docs_theory():
    assert THEORY.is_file(), "docs/THEORY.md is missing"
    text = THEORY.read_text(encoding="utf-8")
    known = sections(text)
    found = citations()
    assert sum(bool(labels) for *_, labels, _ in found) >= 40, "citations not found: parser?"
    missing, unqualified = [], []
    for path, line, _, labels, qualifier in found:
        for label in labels:
            if label not in known:
                missing.append(f"{where(path, line)}: {label}")
            elif qualifier and squash(qualifier) not in squash(known[label]):
                unqualified.append(f"{where(path, line)}: {label} {qualifier!r}")
        if qualifier and not labels and squash(qualifier) not in squash(text):
            unqualified.append(f"{where(path, line)}: {qualifier!r}")
    assert not missing, f"labels cited but not sections of docs/THEORY.md: {missing}"
    assert not unqualified, f"qualifiers not found in the cited section: {unqualified}"


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_in_file_links_of_docs_theory_resolve():
    """The label index links (``[A.6](#a6-...)``) point at headings of the file."""
    assert THEORY.is_file(), "docs/THEORY.md is missing"
    text = THEORY.read_text(encoding="utf-8")
    prose = FENCE.sub("", text)
    anchors = {slug(h) for h in re.findall(r"^#+\s+(.*)$", prose, re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links, "the label index has no links"
    assert not sorted(set(links) - anchors), f"links to no heading: {sorted(set(links) - anchors)}"


def test_user_facing_files_cite_the_path_docs_theory():
    """README, tutorials, model files and the package cite ``docs/THEORY.md`` (there is no
    ``THEORY.md`` at the root); files under ``docs/`` may cite it by its bare name."""
    facing = ("README.md", "tutorials/", "models/", "ergodic_ppl/")
    wrong = [
        f"{where(path, line)}: {prefix or ''}THEORY.md"
        for path, line, prefix, _, _ in citations()
        if str(path.relative_to(ROOT)).startswith(facing) and prefix != "docs/"
    ]
    assert not wrong, f"cite docs/THEORY.md by its path from the repository root: {wrong}"


README = ROOT / "README.md"
BLOCK = re.compile(r"^```(?:python|py)[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def undefined_names(code: str) -> set[str]:
    """Names a block reads but neither binds (assignment, import, def, argument, loop or
    comprehension target) nor gets from builtins: what it needs from an earlier block."""
    tree = ast.parse(code)
    bound = set(dir(builtins))
    read = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return read - bound


def test_undefined_names_finds_what_a_block_borrows():
    assert undefined_names("import numpy as np\nx = np.ones(3)\n") == set()
    assert undefined_names("x = np.ones(3)\nprint(x, len(x))\n") == {"np"}
    assert undefined_names("def f(a):\n    return [b for b in a]\n") == set()


@pytest.mark.parametrize(
    "index",
    range(len(BLOCK.findall(README.read_text(encoding="utf-8")))),
    ids=lambda i: f"block{i}",
)
def test_readme_python_blocks_are_self_contained(index):
    """Each README python block, copied alone into a fresh interpreter, has every name it
    uses (checked statically; ``tests/test_readme.py`` runs the blocks)."""
    block = BLOCK.findall(README.read_text(encoding="utf-8"))[index]
    missing = undefined_names(block)
    assert not missing, f"README python block {index} uses {sorted(missing)} without defining them"

"""Build an English corpus from documentation every Python installation carries.

Sources: `pydoc_data.topics` (the language reference topics behind `help()`) and the
docstrings of the standard library's modules, classes and functions, read with `ast`
from the source files (nothing is imported or executed). Output: paragraphs separated by
blank lines, doctest and code lines dropped. Deterministic for a given Python version.

    python corpora/python_docs.py corpora/python-docs.txt
"""

from __future__ import annotations

import ast
import re
import sys
import sysconfig
from pathlib import Path

SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__",
             "lib2to3", "ensurepip", "turtledemo", "pydoc_data"}
_CODE_LINE = re.compile(r"^\s*(>>>|\.\.\.|\$ |[{}\[\]()]|[\w.]+\(.*\)\s*$)")


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.rglob("*.py")
                  if not SKIP_DIRS.intersection(p.relative_to(root).parts))


def docstrings(path: Path):
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                yield doc


def paragraphs(text: str):
    """Prose paragraphs of a docstring or topic, each on one line."""
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines()]
        if not lines or any(_CODE_LINE.match(line) for line in lines):
            continue
        para = " ".join(line for line in lines if line)
        if len(para.split()) >= 4 and sum(c.isalpha() for c in para) > 0.6 * len(para):
            yield para


def build(out: Path) -> int:
    from pydoc_data.topics import topics

    seen: set[str] = set()
    words = 0
    with open(out, "w", encoding="utf-8") as f:
        sources = [topics[key] for key in sorted(topics)]
        sources += [doc for path in stdlib_files() for doc in docstrings(path)]
        for text in sources:
            for para in paragraphs(text):
                if para in seen:
                    continue
                seen.add(para)
                f.write(para + "\n\n")
                words += len(para.split())
    return words


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "corpora/python-docs.txt")
    print(f"{target}: {build(target):,} words", file=sys.stderr)

"""A book split 80/20 by words at a paragraph end, its paragraphs unwrapped to one line each
and separated by blank lines (paragraphs, for the keystroke-savings simulation and Presage).

    python bench/book_split.py BOOK.txt TRAIN.txt TEST.txt [--train-share 0.8]

BOOK.txt is plain text whose paragraphs are separated by blank lines (a Project Gutenberg
book, or Debian's r-cran-janeaustenr: `Rscript -e 'writeLines(janeaustenr::emma, "emma.txt")'`).
The first paragraphs up to `--train-share` of the words go to TRAIN, the rest to TEST, so
the test text is what the same author wrote next. Prints the paragraph and word counts.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path


def paragraphs(text: str) -> list[str]:
    """The text's paragraphs, each on one line (its lines joined by a space)."""
    return [" ".join(block.split()) for block in re.split(r"\n\s*\n", text) if block.strip()]


def split(paras: list[str], share: float) -> int:
    """How many of `paras` hold the first `share` of the words (at least one, one left over)."""
    total = sum(len(p.split()) for p in paras)
    seen = 0
    for n, p in enumerate(paras, 1):
        seen += len(p.split())
        if seen >= share * total:
            return max(1, min(n, len(paras) - 1))
    return max(1, len(paras) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("book", type=Path)
    parser.add_argument("train", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("--train-share", type=float, default=0.8)
    args = parser.parse_args()
    paras = paragraphs(args.book.read_text(encoding="utf-8"))
    if len(paras) < 2:
        raise SystemExit(f"Error: {args.book} has fewer than two paragraphs")
    n = split(paras, args.train_share)
    for path, part in ((args.train, paras[:n]), (args.test, paras[n:])):
        path.write_text("\n\n".join(part) + "\n", encoding="utf-8")
        print(f"{path}: {len(part):,} paragraphs, {sum(len(p.split()) for p in part):,} words")


if __name__ == "__main__":
    main()

"""A synthetic corpus for the seeds' claim: a fact early in a passage decides a word many
tokens later, with neutral filler between, so no n-gram sees both.

    Maria spent 12 years working in Spain . <filler sentences> She can speak fluent Spanish .

`passages(...)` yields (text, context, answer, gap): `context` is the passage up to and
including "fluent " (what a user would have typed), `answer` the language, `gap` the number
of filler tokens between the country and the answer.

    python corpora/longrange.py out.txt --passages 4000 --min-gap 5 --max-gap 40
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator

COUNTRIES = {"Spain": "Spanish", "France": "French", "Germany": "German", "Italy": "Italian",
             "Japan": "Japanese", "Brazil": "Portuguese", "Russia": "Russian", "China": "Chinese",
             "Greece": "Greek", "Turkey": "Turkish"}
PEOPLE = [("Maria", "She"), ("John", "He"), ("Aisha", "She"), ("Pedro", "He"), ("Lena", "She"),
          ("Tom", "He"), ("Yuki", "She"), ("Omar", "He"), ("Clara", "She"), ("Ivan", "He")]
JOBS = ["working for the under-privileged kids in", "teaching at a school in",
        "working as a nurse in", "running a small shop in", "studying music in"]
# Neutral sentences: no country, language or nationality in them. Each is ~6-9 tokens.
FILLER = ["The work was hard but it was worth it .", "Every morning started with a long walk .",
          "There were many friends and a few good books .", "The winters were cold and the summers long .",
          "Later came a move back home for family reasons .", "The pay was low , the people were kind .",
          "Weekends were spent by the sea or in the hills .", "It took a while to feel at home there .",
          "Most evenings ended with a simple dinner .", "Some days were quiet and some were busy ."]


def _tokens(text: str) -> int:
    return len(text.split())


def passages(n: int, min_gap: int, max_gap: int, seed: int = 0) -> Iterator[tuple[str, str, str, int]]:
    rng = random.Random(seed)
    countries = sorted(COUNTRIES)
    for _ in range(n):
        name, pronoun = rng.choice(PEOPLE)
        country = rng.choice(countries)
        fact = f"{name} spent {rng.randint(2, 30)} years {rng.choice(JOBS)} {country} ."
        target_gap = rng.randint(min_gap, max_gap)
        filler: list[str] = []
        while sum(map(_tokens, filler)) < target_gap:
            filler.append(rng.choice(FILLER))
        gap = 1 + sum(map(_tokens, filler)) + 4  # "." + filler + "He can speak fluent"
        context = " ".join([fact, *filler, f"{pronoun} can speak fluent "])
        answer = COUNTRIES[country]
        yield context + answer + " .", context, answer, gap


def write(path: str, n: int, min_gap: int, max_gap: int, seed: int = 0) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(text + "\n" for text, *_ in passages(n, min_gap, max_gap, seed))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--passages", type=int, default=4000)
    parser.add_argument("--min-gap", type=int, default=5)
    parser.add_argument("--max-gap", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(args.out, args.passages, args.min_gap, args.max_gap, args.seed)


def top1_accuracy(suggest, held_out) -> float:
    """Share of held-out passages whose answer is the top suggestion after the context."""
    hits = sum(bool(words := suggest(context, 1)) and words[0][0].lower() == answer.lower()
               for _, context, answer, _ in held_out)
    return hits / max(1, len(held_out))

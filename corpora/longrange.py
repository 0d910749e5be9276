"""A synthetic corpus for the seeds' claim: a fact early in a passage decides a word many
tokens later, with neutral filler between, so no n-gram sees both.

    Maria spent 12 years working as a nurse in Spain . <filler sentences> She can speak fluent Spanish .

The cue sentence, the filler and the sentence before the answer each come from several
templates with interchangeable parts, so the filler varies in wording and length (about
4 to 20 tokens a sentence) and the words just before the answer vary too ("She speaks
fluent", "Today Omar is fluent in", ...): what decides the answer is only the country,
named `gap` tokens earlier. No filler word is a country, language or nationality.

`passages(...)` yields (text, context, answer, gap): `context` is the passage up to the
answer (what a user would have typed, ending in a space), `answer` the language, `gap`
the number of tokens after the country and before the answer.

    python corpora/longrange.py out.txt --passages 4000 --min-gap 30 --max-gap 60
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator

COUNTRIES = {"Spain": "Spanish", "France": "French", "Germany": "German", "Italy": "Italian",
             "Japan": "Japanese", "Brazil": "Portuguese", "Russia": "Russian", "China": "Chinese",
             "Greece": "Greek", "Turkey": "Turkish", "Poland": "Polish", "Sweden": "Swedish"}
PEOPLE = [("Maria", "she"), ("John", "he"), ("Aisha", "she"), ("Pedro", "he"), ("Lena", "she"),
          ("Tom", "he"), ("Yuki", "she"), ("Omar", "he"), ("Clara", "she"), ("Ivan", "he"),
          ("Nadia", "she"), ("Samuel", "he"), ("Ruth", "she"), ("Felix", "he"), ("Grace", "she"),
          ("Daniel", "he"), ("Irene", "she"), ("Victor", "he"), ("Helen", "she"), ("Oscar", "he")]
JOBS = ["working for the under-privileged kids in", "teaching at a school in",
        "working as a nurse in", "running a small shop in", "studying music in",
        "building bridges in", "cooking in a busy restaurant in", "writing for a newspaper in",
        "looking after old people in", "repairing boats in"]
CUES = ["{name} spent {n} years {job} {country} .",
        "For {n} years , {name} lived in {country} .",
        "{name} grew up in {country} and left at the age of {age} .",
        "After school , {name} moved to {country} and stayed {n} years .",
        "{name} was born in {country} , the youngest of {small} children ."]
ANSWERS = ["{Pronoun} can speak fluent", "{Pronoun} speaks fluent", "Today {name} is fluent in",
           "Even now {pronoun} can speak fluent", "Of course , {name} speaks fluent"]
# Filler: one of these frames, its slots filled from the pools below.
FRAMES = ["{when} , {subject} {verb} .", "{subject} {verb} .", "{subject} {verb} , and {subject2} {verb2} .",
          "{when} {subject} {verb} , {but} {subject2} {verb2} .", "{exclaim} .",
          "{subject} {verb} {when_late} ."]
WHEN = ["Every morning", "In the spring", "On most weekends", "Later that year", "Some days",
        "In the evening", "Once a month", "For a long time", "At first", "Now and then"]
WHEN_LATE = ["every morning", "in the spring", "on most weekends", "after dinner", "all winter",
             "before sunrise", "once a week", "for hours"]
SUBJECTS = ["the work", "the old house", "the neighbours", "the town", "the weather", "the children",
            "a friend from work", "the little garden", "the small kitchen", "the long road home",
            "the market", "the library", "an uncle", "the team", "the river"]
VERBS = ["was hard but worth it", "seemed quiet", "changed slowly", "needed a lot of care",
         "brought many small surprises", "was full of noise and laughter", "kept everyone busy",
         "grew more familiar", "felt like home", "had its own rules", "looked different in the rain",
         "made the days pass quickly", "was never quite finished", "took patience"]
BUT = ["but", "while", "and yet", "although"]
EXCLAIM = ["It was a good time", "Nobody complained much", "Those were long days",
           "There was always something to do", "Money was short but friends were many",
           "Looking back , it all went by fast", "The rest is a long story"]


def _sentence(rng: random.Random, frame: str) -> str:
    s = frame.format(when=rng.choice(WHEN), when_late=rng.choice(WHEN_LATE), but=rng.choice(BUT),
                     subject=rng.choice(SUBJECTS), subject2=rng.choice(SUBJECTS),
                     verb=rng.choice(VERBS), verb2=rng.choice(VERBS), exclaim=rng.choice(EXCLAIM))
    return s[0].upper() + s[1:]


def _filler(rng: random.Random, lo: int, hi: int) -> list[str]:
    """Filler sentences of lo to hi tokens in all (0 if hi is 0)."""
    target, out, length = rng.randint(lo, hi), [], 0
    while length < target:
        options = [s for s in (_sentence(rng, f) for f in rng.sample(FRAMES, len(FRAMES)))
                   if length + len(s.split()) <= hi]
        if not options:  # nothing short enough: a short sentence closes the gap, if it fits
            options = [s for s in ("Life went on .", "Time passed .") if length + len(s.split()) <= hi]
            if not options:
                break
        out.append(options[0])
        length += len(options[0].split())
    return out


def passages(n: int, min_gap: int, max_gap: int, seed: int = 0,
             varied: bool = True) -> Iterator[tuple[str, str, str, int]]:
    """`n` passages whose gap (tokens between the country and the answer) is at least
    `min_gap` (the cue's own tail and the answer's lead-in count) and about `max_gap` at
    most. `varied=False`: one cue and one lead-in template (the first of each), as the
    original version of this corpus had: a link an LSTM forms in seconds at short gaps."""
    rng = random.Random(seed)
    cues, answers = (CUES, ANSWERS) if varied else (CUES[:1], ANSWERS[:1])
    countries = sorted(COUNTRIES)
    for _ in range(n):
        name, pronoun = rng.choice(PEOPLE)
        country = rng.choice(countries)
        cue = rng.choice(cues).format(name=name, n=rng.randint(2, 30), job=rng.choice(JOBS),
                                      country=country, age=rng.randint(15, 40), small=rng.randint(2, 6))
        lead = rng.choice(answers).format(name=name, pronoun=pronoun, Pronoun=pronoun.capitalize())
        words = cue.split()
        fixed = len(words) - 1 - words.index(country) + len(lead.split())
        filler = _filler(rng, max(0, min_gap - fixed), max(0, max_gap - fixed))
        context = " ".join([cue, *filler, lead]) + " "
        gap = fixed + sum(len(s.split()) for s in filler)
        answer = COUNTRIES[country]
        yield context + answer + " .", context, answer, gap


def write(path: str, n: int, min_gap: int, max_gap: int, seed: int = 0, varied: bool = True) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(text + "\n" for text, *_ in passages(n, min_gap, max_gap, seed, varied))


def top1_accuracy(suggest, held_out) -> float:
    """Share of held-out passages whose answer is the top suggestion after the context."""
    hits = sum(bool(words := suggest(context, 1)) and words[0][0].lower() == answer.lower()
               for _, context, answer, _ in held_out)
    return hits / max(1, len(held_out))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--passages", type=int, default=4000)
    parser.add_argument("--min-gap", type=int, default=30)
    parser.add_argument("--max-gap", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(args.out, args.passages, args.min_gap, args.max_gap, args.seed)

"""Text generation: `nextword generate`'s seed and greedy sampling, and Predictor.generate's words."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

import nextword
from nextword.cli.main import cli
from nextword.text.rules import WORD


def invoke(*args, **kwargs):
    return CliRunner().invoke(cli, list(args), **kwargs)


def test_generate_negative_seed_is_a_usage_error(numpy_model_dir):
    result = invoke("generate", "-m", str(numpy_model_dir), "--seed", "-1")
    assert result.exit_code == 2 and "Invalid value for '--seed'" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    big = invoke("generate", "-m", str(numpy_model_dir), "-n", "3", "--seed", str(2**70))
    assert big.exit_code == 0, big.stderr


def generated_words(text: str, prompt: str) -> int:
    return len(re.findall(WORD, text[len(prompt):]))


@pytest.mark.parametrize("options", [["--temperature", "0"], ["--top-p", "1e-9"], ["--top-k", "1"]])
def test_greedy_generation_gives_the_words_asked_for(numpy_model_dir, options):
    result = invoke("generate", "-m", str(numpy_model_dir), "-n", "10", *options, "The king")
    assert result.exit_code == 0, result.stderr
    assert generated_words(result.stdout.rstrip("\n"), "The king") == 10
    assert "\n\n\n" not in result.stdout


class Favours:
    """An engine stub whose likeliest next token is always `token`."""

    def __init__(self, vocab_size: int, token: int):
        self.vocab_size = vocab_size
        self.token = token

    def distribution(self, ids):
        p = np.full(self.vocab_size, 0.1 / (self.vocab_size - 1))
        p[self.token] = 0.9
        return p


@pytest.mark.parametrize("favourite", ["\n", ".", "[UNK]"])
def test_generation_that_loves_a_non_word_still_makes_words(numpy_model_dir, favourite):
    p = nextword.load(numpy_model_dir)
    p.engine = Favours(p.engine.vocab_size, p.tokenizer.get_vocab()[favourite])
    for prompt in ("", "The cat", "The cat sleeps.\n"):
        text = p.generate(prompt, 10, temperature=0)
        assert generated_words(text, prompt) == 10
        assert "\n\n\n" not in text  # at most a paragraph break
    assert not p.generate("", 10, temperature=0).startswith("\n")  # nothing to end yet

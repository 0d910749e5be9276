"""`nextword complete` driven through a real prompt_toolkit session on a pipe input."""

from __future__ import annotations

import asyncio
import time

import pytest
from click.testing import CliRunner
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

import nextword
from nextword.cli.main import cli
from nextword.frontends.repl import Assistant, make_session, run

RIGHT, TAB, ALT_F, ENTER, CTRL_D, CTRL_C = "\x1b[C", "\t", "\x1bf", "\r", "\x04", "\x03"


@pytest.fixture(scope="module")
def predictor(numpy_model_dir):
    return nextword.load(numpy_model_dir)


async def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the session"
        await asyncio.sleep(0.01)


def suggested(text):
    """Ready when the keys are in the buffer and the ghost text for them has arrived."""
    return lambda b: b.text == text and b.suggestion is not None


def menu(b):
    return b.complete_state is not None and bool(b.complete_state.completions)


def drive(predictor, steps, paragraph=()):
    """Run one prompt. `steps`: (keys, ready) pairs; after sending the keys, wait until
    ready(buffer) holds (or just let the loop run when it is None). Returns (line, assistant)."""
    assistant = Assistant(predictor, k=3)
    assistant.paragraph = list(paragraph)

    async def main():
        with create_pipe_input() as pipe:
            session = make_session(assistant, "tiny", input=pipe, output=DummyOutput())
            task = asyncio.ensure_future(session.prompt_async())
            for keys, ready in steps:
                pipe.send_text(keys)
                if ready is None:
                    await asyncio.sleep(0.05)
                else:
                    await wait_for(lambda ready=ready: ready(session.default_buffer))
            return await asyncio.wait_for(task, 10)

    return asyncio.run(main()), assistant


def test_right_arrow_accepts_the_ghost_text_with_a_space(predictor):
    top = predictor.suggest("The do", 1)[0][0]
    line, _ = drive(predictor, [("The do", suggested("The do")), (RIGHT, None), (ENTER, None)])
    assert line.startswith(f"The {top} ")


def test_alt_f_accepts_one_word(predictor):
    line, _ = drive(predictor, [("The cat ", suggested("The cat ")), (ALT_F, None), (ENTER, None)])
    assert line == "The cat sleeps "


def test_tab_offers_k_candidates_and_enter_picks(predictor):
    words = [w for w, _ in predictor.suggest("my friend laughs in the ", 3)]
    offered = []

    def three_offered(b):
        if not menu(b):
            return False
        offered[:] = [c.display_text for c in b.complete_state.completions]
        return True

    line, _ = drive(predictor, [("my friend laughs in the ", None), (TAB, three_offered),
                                (TAB, lambda b: b.complete_state.current_completion is not None),
                                (ENTER, lambda b: b.complete_state is None and b.suggestion is not None),
                                (ENTER, None)])
    assert offered == words and len(words) == 3
    assert line == f"my friend laughs in the {words[0]} "  # the first Tab opens, the second selects


def test_context_of_earlier_lines_is_used(predictor):
    seen = []
    original = predictor.suggest

    def spy(text, k=5):
        seen.append(text)
        return original(text, k)

    predictor.suggest = spy
    try:
        drive(predictor, [("at ", suggested("at ")), (ENTER, None)], paragraph=["The cat sleeps"])
    finally:
        predictor.suggest = original
    assert "The cat sleeps\nat " in seen


def test_ctrl_c_clears_the_line_and_ctrl_d_exits(predictor, monkeypatch):
    ended = []
    monkeypatch.setattr(Assistant, "end_line", lambda self, line: ended.append(line))
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("half a line" + CTRL_C + "a whole line" + ENTER + CTRL_D)
        assert run(predictor, k=3) is None  # Ctrl-D on an empty line returns (no EOFError)
    # The line Ctrl-C cleared never became a line, nor the start of the next one.
    assert ended == ["a whole line"]


def test_clear_command_and_empty_line_reset_the_paragraph(predictor):
    assistant = Assistant(predictor)
    assistant.end_line("The cat sleeps")
    assert assistant.full_text("x") == "The cat sleeps\nx"
    assistant.end_line("")
    assert assistant.full_text("x") == "x"


def test_complete_without_a_terminal_points_to_predict(numpy_model_dir):
    result = CliRunner().invoke(cli, ["complete", "-m", str(numpy_model_dir)], input="the \n")
    assert result.exit_code == 1 and "nextword predict" in result.stderr


def test_complete_with_missing_model(tmp_path):
    result = CliRunner().invoke(cli, ["complete", "-m", str(tmp_path / "none")])
    assert result.exit_code == 1 and result.stderr.startswith("Error: no model at")

"""`nextword complete`: a prompt_toolkit prompt with the next word as grey ghost text.

→ / End / Ctrl-E accept the ghost text, Alt-F one word of it; Tab opens the top-k menu
(Tab / Shift-Tab cycle, Enter picks); Enter ends the line, keeps it as context and adds it
to the personal store (unless learning is off; the status line says which); an empty
line, Ctrl-L or `:clear` starts a new paragraph; Ctrl-C clears the line; Ctrl-D leaves.
Suggestions are computed in a thread so a slow step never swallows keystrokes.
"""

from __future__ import annotations

import threading

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggest, Suggestion, ThreadedAutoSuggest
from prompt_toolkit.completion import Completer, Completion, ThreadedCompleter
from prompt_toolkit.filters import completion_is_selected, has_completions
from prompt_toolkit.key_binding import KeyBindings

from nextword.prediction.predictor import Predictor, split_text

GHOST_WORDS = 3          # ghost text may run this many words ahead ...
GHOST_CONFIDENCE = 0.25  # ... while each further word is at least this likely


class Assistant:
    """The predictor plus the typed context, shared (under a lock) by the suggestion
    thread, the completer thread and the toolbar."""

    def __init__(self, predictor: Predictor, k: int = 5, learn: bool = False):
        self.predictor = predictor
        self.k = k
        self.learn = learn
        self.paragraph: list[str] = []  # finished lines of the current paragraph
        self.last: list[tuple[str, float]] = []
        self._lock = threading.Lock()

    def full_text(self, line: str) -> str:
        return "".join(p + "\n" for p in self.paragraph) + line

    def end_line(self, line: str) -> None:
        if line.strip():
            self.paragraph.append(line)
            if self.learn:
                with self._lock:  # the store's connection is shared with the suggestion thread
                    self.learn = self.predictor.learn(line)
        else:
            self.clear()

    @property
    def learning(self) -> str:
        """What the status line says of learning."""
        if self.learn:
            learner = self.predictor.learner
            waiting = learner is not None and learner.waiting
            return "learning (waiting for the busy store)" if waiting else "learning"
        return "not learning (no store)" if self.predictor.store_note else "not learning"

    def clear(self) -> None:
        self.paragraph = []
        self.last = []

    def suggest(self, line: str, k: int | None = None) -> list[tuple[str, float]]:
        with self._lock:
            words = self.predictor.suggest(self.full_text(line), k or self.k)
        self.last = words
        return words

    def ghost(self, line: str) -> str:
        """The text to show after the cursor: the rest of the current (or next) word and,
        while the model is confident, a word or two more; always ending in a space."""
        words = self.suggest(line)
        if not words:
            return ""
        _, prefix = split_text(line)
        text = words[0][0][len(prefix):] + " "
        for _ in range(GHOST_WORDS - 1):
            with self._lock:
                nxt = self.predictor.suggest(self.full_text(line + text), 1)
            if not nxt or nxt[0][1] < GHOST_CONFIDENCE:
                break
            text += nxt[0][0] + " "
        return text


class GhostText(AutoSuggest):
    def __init__(self, assistant: Assistant):
        self.assistant = assistant

    def get_suggestion(self, buffer, document):
        if document.text.startswith(":") or not document.is_cursor_at_the_end:
            return None
        text = self.assistant.ghost(document.text)
        return Suggestion(text) if text else None


class WordMenu(Completer):
    def __init__(self, assistant: Assistant):
        self.assistant = assistant

    def get_completions(self, document, complete_event):
        before = document.text_before_cursor
        _, prefix = split_text(before)
        for word, prob in self.assistant.suggest(before):
            yield Completion(word + " ", start_position=-len(prefix), display=word,
                             display_meta=f"{prob:.0%}")


def bindings(assistant: Assistant) -> KeyBindings:
    kb = KeyBindings()

    @kb.add("end", filter=~has_completions)
    def _(event):
        buffer = event.current_buffer
        if buffer.suggestion and buffer.document.is_cursor_at_the_end:
            buffer.insert_text(buffer.suggestion.text)
        else:
            buffer.cursor_position += buffer.document.get_end_of_line_position()

    @kb.add("enter", filter=has_completions & completion_is_selected)
    def _(event):
        buffer = event.current_buffer
        buffer.complete_state = None  # keep the picked word, stay on the line
        # Picking changed no text since the menu opened, so no new ghost text would be
        # asked for: ask now (one cached engine step).
        ghost = assistant.ghost(buffer.document.text) if buffer.document.is_cursor_at_the_end else ""
        buffer.suggestion = Suggestion(ghost) if ghost else None

    @kb.add("c-l")
    def _(event):
        assistant.clear()
        event.app.renderer.clear()

    return kb


def make_session(assistant: Assistant, model_name: str, **kwargs) -> PromptSession:
    def toolbar():
        others = " · ".join(f"{w} {p:.0%}" for w, p in assistant.last[:assistant.k])
        return (f" {model_name} │ {others or '…'} │ {assistant.learning} │ →/End accept · Alt-F word "
                f"· Tab menu · Ctrl-L new paragraph · Ctrl-D quit")

    return PromptSession(
        message="› ",
        auto_suggest=ThreadedAutoSuggest(GhostText(assistant)),
        completer=ThreadedCompleter(WordMenu(assistant)),
        complete_while_typing=False,
        key_bindings=bindings(assistant),
        bottom_toolbar=toolbar,
        **kwargs,
    )


def run(predictor: Predictor, k: int = 5, learn: bool = False, noted=lambda: None,
        **session_kwargs) -> None:
    """Prompt line after line until Ctrl-D (or :quit). `learn`: add each line to the
    personal store; `noted()` is called after each line (to report a store that failed)."""
    assistant = Assistant(predictor, k, learn=learn and predictor.personal is not None)
    session = make_session(assistant, predictor.path.name, **session_kwargs)
    try:
        _prompt_lines(session, assistant, noted)
    finally:
        if assistant.learn:
            predictor.finish_learning()  # what waited for a busy store
            noted()


def _prompt_lines(session: PromptSession, assistant: Assistant, noted) -> None:
    while True:
        try:
            line = session.prompt()
        except KeyboardInterrupt:
            continue  # Ctrl-C: drop the line being typed
        except EOFError:
            return
        command = line.strip()
        if command in (":clear", ":c"):
            assistant.clear()
        elif command in (":quit", ":q"):
            return
        else:
            assistant.end_line(line)
            noted()

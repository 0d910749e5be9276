"""Crafted model directories (issue 26, items 4-6): every byte of a model is hostile input.

Each case below is one hostile directory, built once from the session's tiny model: wrong
JSON types and shapes, numbers too long, nesting too deep, tokenizers with holes, summaries
of the wrong type, .npy headers that declare 10^12 elements, decompression bombs, and
special files (links to /dev/zero and /dev/urandom, a FIFO, a directory) in a file's place.
Where the digests in config.json would catch the damage by themselves, the case is built
as edited on purpose (`refresh_digests`), so that the checks behind the digest check are
what is tested, and also as damaged (digests left: a ModelError, tested in-process).

The commands run as real processes (`python -m nextword ...`) under a memory limit
(RLIMIT_AS, MEMORY_LIMIT: the prediction side never imports TensorFlow, so it fits) and a
timeout, and must end with status 1, one `Error:` line on stderr and no traceback.
Processes cost about a second each on a busy machine, so not every command runs on every
case: all commands loading a model go through the same directory.load, so the cases that
stand for a class (COMMAND_CASES: a type error in config.json, an .npy bomb, a link to
/dev/zero, a tokenizer with a hole) run every command (predict, info, generate, evaluate,
complete, and lsp's initialize), and the others run `predict` only (`info` where what is
damaged is what only `info` showed). `complete` loads the model before it looks for a
terminal, so a pipe is enough to test its loading (the REPL of a model that loaded is
tests/test_repl.py's).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nextword.errors import ModelError
from nextword.modeldir import directory

from .conftest import refresh_digests

MEMORY_LIMIT = 3 << 30  # bytes of address space a command may use
TIMEOUT = 60  # seconds (a FIFO read without care would block forever)
NEXTWORD = [sys.executable, "-m", "nextword"]


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(NEXTWORD + list(args), input=stdin, capture_output=True, timeout=TIMEOUT,
                          preexec_fn=limited, env=env)


def assert_one_error(proc: subprocess.CompletedProcess, says: str = "") -> str:
    stderr = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr and "Unhandled exception" not in stderr, stderr
    assert proc.returncode == 1, (proc.returncode, stderr)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert says in lines[0], (says, lines[0])
    return lines[0]


# -- building the cases ----------------------------------------------------------------------

def edit_json(name: str, change):
    def build(model: Path) -> None:
        data = json.loads((model / name).read_text())
        changed = change(data)
        (model / name).write_text(json.dumps(data if changed is None else changed))
    return build


def raw_edit(name: str, old: str, new: str):
    def build(model: Path) -> None:
        text = (model / name).read_text()
        assert old in text
        (model / name).write_text(text.replace(old, new, 1))
    return build


def raw_config(text: str):
    def build(model: Path) -> None:
        (model / "config.json").write_text(text)
    return build


def edit_vocab(change):
    def do(tok: dict) -> None:
        change(tok["model"]["vocab"])
    return edit_json("tokenizer.json", do)


def rename(old: str, new: str):
    def do(vocab: dict) -> None:
        vocab[new] = vocab.pop(old)
    return do


def npy(shape, dtype="<f4", data: bytes = b"\0" * 64) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def replace_member(name: str, member: str, content: bytes, compress: int = zipfile.ZIP_STORED):
    """Write `name` (an .npz) again with `member` holding `content`, the others as they were."""
    def build(model: Path) -> None:
        with zipfile.ZipFile(model / name) as old:
            members = {info.filename: old.read(info) for info in old.infolist()}
        members[f"{member}.npy"] = content
        with zipfile.ZipFile(model / name, "w", compress) as new:
            for filename, data in members.items():
                new.writestr(filename, data)
    return build


def link(name: str, target: str):
    def build(model: Path) -> None:
        (model / name).unlink()
        (model / name).symlink_to(target)
    return build


def fifo(name: str):
    def build(model: Path) -> None:
        (model / name).unlink()
        os.mkfifo(model / name)
    return build


def a_directory(name: str):
    def build(model: Path) -> None:
        (model / name).unlink()
        (model / name).mkdir()
    return build


def zero_weights_compressed(model: Path) -> None:
    """A config declaring a wide LSTM (16 MB of weights), and weights.npz of zeros of those
    shapes, deflated to a few KB: a decompression bomb whose shapes are all right."""
    config = json.loads((model / "config.json").read_text())
    config["model"]["units"] = 1024
    (model / "config.json").write_text(json.dumps(config))
    cfg = directory.read_config(model)["_model"]
    np.savez_compressed(model / "weights.npz", **{name: np.zeros(shape, np.float32)
                                                  for name, shape in directory.expected_shapes(cfg).items()})


def unused_bomb(model: Path) -> None:
    """weights.npz as written, plus a member no one needs that inflates to 256 MB."""
    block = b"\0" * (1 << 20)
    with zipfile.ZipFile(model / "weights.npz", "a", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("junk.npy", "w", force_zip64=True) as member:
            member.write(npy((64 << 20,), data=b""))
            for _ in range(256):
                member.write(block)


DEEP = "[" * 100_000 + "]" * 100_000
CASES = {
    # item 4: config.json of the wrong types
    "deep nesting": (raw_config('{"format_version": 1, "model": ' + DEEP + "}"), "nested too deeply"),
    "5,000 digits": (raw_edit("config.json", '"units": 32', '"units": ' + "9" * 5000), "not valid JSON"),
    "files a list": (edit_json("config.json", lambda c: c.update(files=["weights.npz"])), '"files"'),
    "files entry a string": (edit_json("config.json", lambda c: c["files"].update({"weights.npz": "x"})),
                             '"files"'),
    "units a float": (edit_json("config.json", lambda c: c["model"].update(units=32.0)),
                      "units must be a whole number, not 32.0"),
    "model a list": (edit_json("config.json", lambda c: c.update(model=[1])), "expected an object"),
    "training a string": (edit_json("config.json", lambda c: c.update(training="fast")),
                          "invalid model settings"),
    "format_version 1.0": (edit_json("config.json", lambda c: c.update(format_version=1.0)),
                           "format_version"),
    "vocab_size 2**40": (edit_json("config.json", lambda c: c["model"].update(vocab_size=2 ** 40)),
                         "vocab_size"),
    "layers 10**6": (edit_json("config.json", lambda c: c["model"].update(layers=10 ** 6)), "layers"),
    "NaN dropout": (raw_config(json.dumps({"format_version": 1, "model": {"vocab_size": 30}})
                               .replace("}}", ', "dropout": NaN}}')), "dropout must be in [0, 1), not nan"),
    "summary of the wrong type": (
        edit_json("config.json", lambda c: c["summary"].update(train_tokens="many")),
        "train_tokens must be a whole number"),
    "summary of 400 digits": (edit_json("config.json", lambda c: c["summary"].update(wall_seconds=10 ** 400)),
                              "wall_seconds must be a number"),
    "summary a list": (edit_json("config.json", lambda c: c.update(summary=[])), "training summary"),
    "corpus not strings": (edit_json("config.json", lambda c: c["summary"].update(corpus=[1, 2])),
                           "corpus must be a list of strings"),
    # item 4: tokenizers with holes (refreshed digests: the count of words stays right)
    "tokenizer without the line end": (edit_vocab(rename("\n", "zzz")), "no entry for the line end"),
    "tokenizer without [UNK]": (edit_vocab(rename("[UNK]", "qqq")), "tokenizer"),
    "tokenizer with a gap": (edit_vocab(lambda v: v.update({next(iter(v)): 99})), "ids are not"),
    "tokenizer without a normalizer": (edit_json("tokenizer.json", lambda t: t.update(normalizer=None)),
                                       "word-level"),
    "tokenizer of the wrong type": (edit_json("tokenizer.json", lambda t: [t]), "tokenizer"),
    "tokenizer nested deeply": (raw_edit("tokenizer.json", '"decoder": null', '"decoder": ' + DEEP),
                                "recursion limit"),
    # item 5: memory bombs in .npy headers, decompression bombs
    "weights member of 10^12 elements": (replace_member("weights.npz", "embedding", npy((10 ** 6, 10 ** 6))),
                                         "embedding has shape (1000000, 1000000)"),
    "ngram member of 10^12 elements": (replace_member("ngram.npz", "tri_keys", npy((10 ** 12,), "<i8")),
                                       "tri_keys"),
    "weights member of another dtype": (replace_member("weights.npz", "output_bias", npy((30,), "|O")),
                                        "output_bias"),
    "weights member of a huge header": (replace_member("weights.npz", "output_bias",
                                                       b"\x93NUMPY\x01\x00\xff\xff" + b" " * 70000),
                                        "output_bias"),
    "zeros deflated 1:1000": (zero_weights_compressed, "decompression bomb"),
    # item 5: special files in a file's place
    "config.json -> /dev/zero": (link("config.json", "/dev/zero"), "character device"),
    "config.json -> /dev/urandom": (link("config.json", "/dev/urandom"), "character device"),
    "config.json a FIFO": (fifo("config.json"), "FIFO"),
    "config.json a directory": (a_directory("config.json"), "directory"),
    "weights.npz -> /dev/zero": (link("weights.npz", "/dev/zero"), "character device"),
    "weights.npz a FIFO": (fifo("weights.npz"), "FIFO"),
    "casing.json -> /dev/zero": (link("casing.json", "/dev/zero"), "character device"),
    "tokenizer.json -> /dev/urandom": (link("tokenizer.json", "/dev/urandom"), "character device"),
}
# Damage the digests in config.json would report by themselves: built both ways.
DIGESTED = {"tokenizer without the line end", "tokenizer without [UNK]", "tokenizer with a gap",
            "tokenizer without a normalizer", "tokenizer of the wrong type", "tokenizer nested deeply",
            "weights member of 10^12 elements", "ngram member of 10^12 elements",
            "weights member of another dtype", "weights member of a huge header", "zeros deflated 1:1000"}
# Cases that stand for a class: every command runs on them.
COMMAND_CASES = ["units a float", "weights member of 10^12 elements", "config.json -> /dev/zero",
                 "tokenizer with a gap"]
INFO_CASES = {"summary of the wrong type", "summary of 400 digits", "summary a list", "corpus not strings"}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, model_dir):
    """Build each case's directory on first use: (case, refreshed) -> path."""
    root = tmp_path_factory.mktemp("hostile")
    built: dict[tuple[str, bool], Path] = {}

    def get(case: str, refreshed: bool = True) -> Path:
        if (case, refreshed) not in built:
            model = root / f"{len(built)}"
            shutil.copytree(model_dir, model)
            build = CASES[case][0] if case in CASES else unused_bomb
            build(model)
            if refreshed and (case in DIGESTED or case not in CASES):
                refresh_digests(model)
            built[case, refreshed] = model
        return built[case, refreshed]
    return get


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "held-out.txt"
    path.write_text("The cat sleeps in the garden.\nA dog barks by the river.\n")
    return path


def command(name: str, model: Path, text_file: Path) -> list[str]:
    return {"predict": ["predict", "-m", str(model), "--user-db", "", "The cat "],
            "info": ["info", "-m", str(model), "--user-db", ""],
            "generate": ["generate", "-m", str(model), "--user-db", "", "-n", "3", "The"],
            "evaluate": ["evaluate", "-m", str(model), "--no-baseline", str(text_file)],
            "complete": ["complete", "-m", str(model), "--user-db", ""]}[name]


@pytest.mark.parametrize("case", [case for case in CASES if case not in COMMAND_CASES])
def test_a_crafted_model_is_one_error_line(hostile, text_file, case):
    name = "info" if case in INFO_CASES else "predict"
    assert_one_error(run(*command(name, hostile(case), text_file)), CASES[case][1])


@pytest.mark.parametrize("case", sorted(DIGESTED))
def test_the_same_damage_without_refreshed_digests_is_a_model_error(hostile, case):
    """Damage config.json's digests report by themselves (in-process: the commands turn a
    ModelError into one Error: line, as the tests above show)."""
    with pytest.raises(ModelError, match="is not the file config.json describes"):
        directory.load(hostile(case, refreshed=False))


@pytest.mark.parametrize("case", COMMAND_CASES)
@pytest.mark.parametrize("name", ["predict", "info", "generate", "evaluate", "complete"])
def test_every_command_refuses_a_crafted_model_in_one_line(hostile, text_file, case, name):
    assert_one_error(run(*command(name, hostile(case), text_file)), CASES[case][1])


def frame(message: dict) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_messages(stream: bytes) -> list[dict]:
    messages = []
    while stream:
        head, _, rest = stream.partition(b"\r\n\r\n")
        length = next(int(value) for name, _, value in (line.partition(b":") for line in head.split(b"\r\n"))
                      if name.lower() == b"content-length")
        messages.append(json.loads(rest[:length]))
        stream = rest[length:]
    return messages


@pytest.mark.parametrize("case", COMMAND_CASES)
def test_the_language_server_says_why_in_one_line_and_exits(hostile, case):
    """README: "A model that cannot be loaded at start ... is an error message in the editor
    (and one `Error:` line in its log), and the server exits"."""
    initialize = frame({"id": 1, "method": "initialize", "params": {
        "processId": None, "rootUri": None, "capabilities": {},
        "initializationOptions": {"model": str(hostile(case)), "userDb": ""}}})
    # Then stdin closes, which would end a server still up with status 0, not 1.
    proc = run("lsp", stdin=initialize)
    line = assert_one_error(proc, CASES[case][1])
    shown, answer = read_messages(proc.stdout)
    assert shown["method"] == "window/showMessage" and shown["params"]["type"] == 1
    assert shown["params"]["message"] == "nextword: " + line.removeprefix("Error: ")
    assert answer["id"] == 1 and answer["error"]["message"] == shown["params"]["message"]
    assert "Traceback" not in json.dumps(answer) and "\n" not in answer["error"]["message"]


def test_an_unused_member_is_never_decompressed(hostile, model_dir, monkeypatch):
    """weights.npz with a member no one needs that inflates to 256 MB: it loads (only the
    members the config names are read), under the memory limit, and predicts as before."""
    model = hostile("unused bomb")
    opened = []
    original = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, name, *a, **k: opened.append(
        getattr(name, "filename", name)) or original(self, name, *a, **k))
    directory.load(model)
    assert "junk.npy" not in opened and "embedding.npy" in opened
    proc = run("predict", "-m", str(model), "--user-db", "", "The cat ")
    assert proc.returncode == 0 and proc.stdout == run("predict", "-m", str(model_dir), "--user-db", "",
                                                       "The cat ").stdout


@pytest.mark.parametrize("refreshed", [True, False])
def test_casing_json_of_another_type_is_lower_case_or_damage(hostile, model_dir, tmp_path, refreshed):
    """casing.json is cosmetic (casing.parse): another JSON type falls back to lower case,
    as invalid JSON does; unless its digest says it is not the file the model was saved with."""
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    (model / "casing.json").write_text("[1, 2, 3]")
    if refreshed:
        refresh_digests(model)
        proc = run("predict", "-m", str(model), "--user-db", "", "The cat ")
        assert proc.returncode == 0 and proc.stdout and not proc.stderr
    else:
        assert_one_error(run("predict", "-m", str(model), "--user-db", "", "The cat "),
                         "not the file config.json describes")


def test_the_library_raises_model_error_for_each_case(hostile):
    """The same checks through the API (nextword.load), without a process per case."""
    import nextword

    for case in ("deep nesting", "files a list", "tokenizer without [UNK]", "ngram member of 10^12 elements"):
        with pytest.raises(ModelError):
            nextword.load(hostile(case), user_db=None)


def test_a_failure_no_check_foresaw_still_ends_the_server_in_one_line(model_dir, monkeypatch, capsys):
    """Whatever loading the model raises at `initialize`, the client gets one line (no
    traceback in the error's data) and the server ends with status 1."""
    import asyncio

    from nextword.frontends.lsp import Settings, make_server
    from nextword.prediction.predictor import Predictor

    def deep(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded\nmore")

    monkeypatch.setattr(Predictor, "load", deep)
    server = make_server(Settings(model=model_dir))
    answers = []
    server.protocol.set_writer(type("Writer", (), {"write": lambda self, data: answers.append(data)})())

    async def initialize():
        server.protocol.handle_message(json.loads(json.dumps({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"processId": None, "rootUri": None, "capabilities": {}}}),
            object_hook=server.protocol.structure_message))
        await asyncio.sleep(1)

    with pytest.raises(SystemExit):
        asyncio.run(initialize())
    assert server.exit_code == 1
    shown, answer = (read_messages(data)[0] for data in answers)
    message = (f"nextword: the model at {model_dir} cannot be loaded "
               f"(RecursionError: maximum recursion depth exceeded)")
    assert shown["params"]["message"] == message and answer["error"]["message"] == message
    assert "Traceback" not in json.dumps(answer)
    assert capsys.readouterr().err == f"Error: {message.removeprefix('nextword: ')}\n"

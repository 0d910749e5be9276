"""Completion latency of `nextword lsp` over stdio while a paragraph is typed.

    python bench/lsp_latency.py [--model DIR] [--vocab N] [--rounds 3]

An LSP client (pygls's) starts `python -m nextword lsp`, opens an empty plain-text
document and types predict_speed's PARAGRAPH into it `--rounds` times (a line between
rounds), one character at a time: per keystroke an incremental didChange and a completion
request at the cursor, timed from sending the change to the completion's answer. Without
--model it builds predict_speed's model (embedding 256, 512 units, ~10k words, 3-gram,
default mixture weights). Target: p99 <= 10 ms per keystroke.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict_speed import PARAGRAPH, bench_model, describe, keystroke_figures, peak_rss  # noqa: E402

URI = "file:///bench/paragraph.txt"


async def type_paragraph(model: Path, rounds: int) -> dict:
    client = LanguageClient("nextword-bench", "1")
    started = time.perf_counter()
    await client.start_io(sys.executable, "-m", "nextword", "lsp")
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), initialization_options={"model": str(model)}))
    ready = time.perf_counter() - started
    gc.freeze()  # this client's full collections (pygls's types) would be timed as the server's
    client.initialized(types.InitializedParams())
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=URI, language_id="plaintext", version=1, text="")))
    latencies, items = [], 0
    line = column = 0
    for version, char in enumerate("\n".join([PARAGRAPH] * rounds), start=2):
        at = types.Position(line, column)
        line, column = (line + 1, 0) if char == "\n" else (line, column + 1)
        start = time.perf_counter()
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=URI, version=version),
            [types.TextDocumentContentChangePartial(range=types.Range(at, at), text=char)]))
        result = await client.text_document_completion_async(types.CompletionParams(
            types.TextDocumentIdentifier(URI), types.Position(line, column)))
        latencies.append(time.perf_counter() - start)
        items += len(result.items) if result else 0
    peak = peak_rss(client._server.pid)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {"latencies": latencies, "ready_s": ready, "peak": peak, "items": items}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--rounds", type=int, default=3, help="Times the paragraph is typed.")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--vocab", type=int, default=10_000, help="Words of the model built.")
    args = parser.parse_args()
    with bench_model(args.model, args.vocab) as model:
        run = asyncio.run(type_paragraph(model, args.rounds))
        figures = {"model": describe(model), "ready_s": round(run["ready_s"], 3),
                   "first_keystroke_ms": round(1000 * run["latencies"][0], 3),
                   **keystroke_figures(run["latencies"][1:]),
                   "keystroke_max_ms": round(1000 * max(run["latencies"][1:]), 3),
                   "items_per_answer": round(run["items"] / len(run["latencies"]), 2),
                   "peak_rss_mb": round(run["peak"] / 2**20, 1)}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"model: {figures['model']}")
    print(f"start to initialized (process, imports, model): {figures['ready_s']} s")
    print(f"first keystroke (cattrs builds its converters for these messages, in server and client): "
          f"{figures['first_keystroke_ms']} ms")
    print(f"per keystroke after it, didChange + completion over stdio ({figures['keystrokes']} keystrokes, "
          f"{figures['items_per_answer']} items per answer): p50 {figures['keystroke_p50_ms']} ms, "
          f"p99 {figures['keystroke_p99_ms']} ms, max {figures['keystroke_max_ms']} ms"
          "   (target p99 <= 10 ms)")
    print(f"peak RSS of the server: {figures['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()

"""An agent's final answer: the text it ended its last iteration with (for Claude Code,
Codex and Gemini their final message; for a command, its output), kept whole in
`iterations/NNNN/answer` and, bounded to its last ANSWER_CHARS characters, in
result.json's `final_answer`, so a dependent's prompt (a pipeline's next stage,
--after, depends) can carry it forward without carrying a novel."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Final

ANSWER_CHARS: Final = 4000
ANSWER_NAME: Final = "answer"


def save(it_dir: Path | str, text: str) -> str | None:
    """Keep an iteration's final text; its path, or None if there was none."""
    if not text.strip():
        return None
    path = os.path.join(it_dir, ANSWER_NAME)
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)
    return path


def final_answer(path: str | None) -> dict[str, Any] | None:
    """The answer at `path` for result.json: its end, its length and where the whole is."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    return {"text": text[-ANSWER_CHARS:], "chars": len(text), "cut": len(text) > ANSWER_CHARS, "path": path}

"""The prompt of one iteration: a template with {{VARIABLES}} filled in.

Variables: HARNESS_ID, ITERATION, MAX_ITERATIONS, ROADMAP_PATH, ROADMAP, PROGRESS,
MESSAGES, LAST_OUTCOME, CONTEXT (the shared context), DEPENDENCIES (how the harnesses
this one runs --after ended) and ARTIFACTS (those they published). Unknown {{NAMES}} are
left as they are, so a template can quote the syntax.
"""

from __future__ import annotations

import os

from metaharness.inbox import Message

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Final, Mapping

    from metaharness.roadmap import Progress
    from metaharness.spec import Spec

TEMPLATES: Final = os.path.join(os.path.dirname(__file__), "templates")
MAX_TEMPLATE_BYTES: Final = 1024 * 1024  # 1 MiB, as for a roadmap: a prompt is not a corpus
_NAME_CHARACTERS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")


def read_template(path: Path | str) -> str:
    """A user's prompt template: OSError (not a regular file, too large, ...) or
    UnicodeDecodeError rather than a hang on a FIFO."""
    from metaharness.userfile import read_text

    return read_text(path, MAX_TEMPLATE_BYTES)


def default_template() -> str:
    with open(os.path.join(TEMPLATES, "default.md"), encoding="utf-8") as f:
        return f.read()


def build(spec: Spec, tree: Path | str, n: int, roadmap_text: str, progress: Progress, messages: list[Message],
          last_outcome: str) -> str:
    """The prompt of iteration `n` of the harness of `spec`: its template (or the default),
    filled in from the roadmap, the messages, the last outcome and the shared tree."""
    template = read_template(spec.prompt_template) if spec.prompt_template else default_template()
    after = list(spec.after)
    return render(template, {
        "HARNESS_ID": spec.id, "ITERATION": n, "MAX_ITERATIONS": spec.max_iterations,
        "ROADMAP_PATH": spec.roadmap, "ROADMAP": roadmap_text.rstrip(), "PROGRESS": f"{progress.done}/{progress.total}",
        "MESSAGES": format_messages(messages), "LAST_OUTCOME": last_outcome, "CONTEXT": format_context(tree),
        "ARTIFACTS": format_artifacts(tree, after), "DEPENDENCIES": format_dependencies(tree, after),
    })


def render(template: str, values: Mapping[str, object]) -> str:
    r"""Fill `{{NAME}}` placeholders (NAME: capitals and '_') from `values` in one pass
    (values are not re-expanded); others stay as written.

    Scanned by hand rather than with the regex `\{\{([A-Z_]+)\}\}`, whose compiling would
    cost every harness start a millisecond; it finds the same placeholders."""
    pieces, copied, at = [], 0, template.find("{{")
    while at != -1:
        close = template.find("}}", at + 2)
        if close == -1:
            break
        name = template[at + 2 : close]
        if not name or not _NAME_CHARACTERS.issuperset(name):
            at = template.find("{{", at + 1)  # "{{{NAME}}": the placeholder starts one further on
            continue
        if name in values:
            pieces += (template[copied:at], str(values[name]))
            copied = close + 2
        at = template.find("{{", close + 2)
    pieces.append(template[copied:])
    return "".join(pieces)


def format_context(tree: Path | str) -> str:
    from metaharness.context import items

    pairs = items(tree)
    return "\n".join(f"- {key}: {value.decode('utf-8', 'replace')}" for key, value in pairs) or "(none)"


def format_dependencies(tree: Path | str, dependencies: list[str]) -> str:
    """How each --after harness ended: its status and reason, its check, and its final
    answer (bounded: answers.py), quoted."""
    from metaharness.tree import read_json

    lines = []
    for dependency in dependencies:
        try:
            result = read_json(os.path.join(tree, dependency, "result.json"))
        except (OSError, ValueError):
            lines.append(f"- {dependency}: (no result)")
            continue
        lines.append(f"- {dependency}: {result.get('status')}: {result.get('reason')}")
        check = result.get("check")
        if isinstance(check, dict):
            lines.append(f"  Its check `{check.get('command')}` " + ("passed." if check.get("passed") else "failed."))
        answer = result.get("final_answer")
        if isinstance(answer, dict) and answer.get("text"):
            cut = f"its last {len(answer['text'])} of {answer.get('chars')} characters; " if answer.get("cut") else ""
            lines.append(f"  Its final answer ({cut}the whole of it: {answer.get('path')}):")
            lines.extend("  > " + line for line in str(answer["text"]).splitlines())
    return "\n".join(lines) or "(none)"


def format_artifacts(tree: Path | str, publishers: list[str]) -> str:
    if not publishers:
        return "(none)"  # the usual case, without the artifacts module's imports
    from pathlib import Path

    from metaharness.artifacts import find, listing

    tree = Path(tree)  # artifacts.py works on Paths; only a harness run --after another needs it

    lines = []
    for publisher in publishers:
        for meta in listing(tree, publisher):
            lines.append(f"- {publisher}/{meta.name} (version {meta.version}, {meta.size} bytes): "
                         f"{find(tree, publisher, meta.name)[1]}")
    return "\n".join(lines) or "(none)"


def format_messages(messages: list[Message]) -> str:
    if not messages:
        return "(none)"
    return "\n\n".join(f"From {m.sender} at {m.sent}:\n{m.body}" for m in messages)

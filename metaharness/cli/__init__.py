"""The command-line verbs: one module per verb, each translating argv into core calls.

VERBS is the one list of verbs. The `mh` dispatcher shows it, and the docs tests derive
from it the four names of each verb (bin/mh-VERB, metaharness/cli/VERB.py, man/mh-VERB.1,
tests/cli/test_mh_VERB.py) and the programs pyproject installs. It is imported by every verb,
so it stays a plain dict: no imports. See mh(1).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Final

# Adding a verb: a line here, then its bin/ program, cli module, man page and test file.
VERBS: Final[dict[str, str]] = {
    "spawn": "create a harness and supervise its agent loop",
    "wait": "block until harnesses end; exit 0 iff all completed",
    "send": "deliver a message into a harness's next prompt",
    "stop": "stop harnesses gracefully",
    "pause": "hold harnesses between iterations until mh-resume",
    "resume": "let paused harnesses go on",
    "budget": "set, list and remove budgets harnesses share",
    "status": "show every harness (table, --json, --watch dashboard, --prometheus)",
    "report": "an HTML report with a timeline of every harness",
    "events": "show or follow a harness's event log",
    "logs": "show or follow what a harness's agent said",
    "diff": "what a --worktree harness changed against its base",
    "clean": "remove finished harnesses and their worktrees, never unmerged work",
    "merge": "land --worktree harnesses' branches on a branch, one at a time, checked",
    "watch": "print every stall, loop, failure and death as it happens",
    "context": "set, get and list the key/value context all harnesses share",
    "artifact": "publish and fetch versioned files between harnesses",
    "run": "run a plan of harnesses: dependencies and a strategy",
    "queue": "add roadmaps to the work queue, list it, retry or drop items",
    "pool": "N workers running harnesses on the queue's items",
}

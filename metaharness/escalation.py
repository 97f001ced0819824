"""What the supervisor does about a silent agent (a stall) or a harness going in circles
(a loop): the detectors, and the ordered policies applied on successive incidents.

A policy is a list of actions, the last of which repeats: `nudge` (end the iteration and
put a message about it into the next prompt), `restart` (end the iteration and retry it
as a failure), `stop` (end the harness `failed`), `none` (only report).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Final

ACTIONS: Final = ("nudge", "restart", "stop", "none")


def parse_policy(text: str) -> list[str]:
    """`nudge,restart,stop` -> a list of actions; ValueError for an unknown one."""
    actions = [a.strip() for a in text.split(",") if a.strip()]
    unknown = [a for a in actions if a not in ACTIONS]
    if not actions or unknown:
        raise ValueError(f"not a policy: {text!r} (a comma-separated list of {', '.join(ACTIONS)})")
    return actions


class Escalation:
    """Applies a policy on successive incidents; a calm stretch starts it over."""

    def __init__(self, policy: list[str]) -> None:
        self._policy = policy
        self.incidents = 0

    def next_action(self) -> str:
        self.incidents += 1
        return self._policy[min(self.incidents, len(self._policy)) - 1]

    def calm(self) -> None:
        self.incidents = 0


class LoopDetector:
    """Notices a harness going nowhere: `threshold` iterations in a row with no roadmap
    progress and no progress marker, or with the same failure."""

    def __init__(self, threshold: int) -> None:
        self._threshold = threshold
        self._idle = 0
        self._same_failure = 0
        self._last_failure: str | None = None

    def observe(self, advanced: bool, failure: str | None) -> str | None:
        """Record one iteration; return why the harness is looping, if it now is."""
        self._idle = 0 if advanced else self._idle + 1
        if failure is not None and failure == self._last_failure:
            self._same_failure += 1
        else:
            self._same_failure = 1 if failure is not None else 0
        self._last_failure = failure
        if self._same_failure >= self._threshold:  # the more telling of the two
            self._same_failure = self._idle = 0
            return f"the same failure {self._threshold} times in a row: {failure}"
        if self._idle >= self._threshold:
            self._idle = 0
            return f"{self._threshold} iterations in a row without progress"
        return None

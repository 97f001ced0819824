"""The coordinator behind mh-run: a plan's harnesses, spawned, watched and aggregated.

It composes what the verbs do: each harness is started detached, as `mh-spawn --detach`
would start it (through start.py, with `--after` for its dependencies, so a dependent
waits, and fails with a failed dependency, in its own supervisor), ends are awaited on the supervisors' locks, and ending harnesses early is
`control/stop`, as mh-stop does. The run's record, `.harness/runs/<run-id>/run.json`,
names each harness's instance, so `--resume` keeps what completed, adopts what still
runs, and spawns the rest again.

Nothing starts until the whole run can: the plan was checked when it was loaded, and
`check` refuses a plan id held by a live harness that is not the run's. A spawn refused
after that (a file or the tree changed meanwhile) cancels what runs; once anything was
started, that is the run's failure (1), never the usage status, which means nothing started.
"""

from __future__ import annotations

import os
import queue
import re
from pathlib import Path

from metaharness import harness
from metaharness.exits import Exit, MhError
from metaharness.plan import HarnessPlan, Plan
from metaharness.statuses import Status
from metaharness.tree import now_iso, read_json, write_json
from metaharness.waiter import Outcome, await_end, watch_end

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Any, Callable, Final

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
SCORE_TIMEOUT_SECONDS: Final = 600.0  # a voting check that runs longer is killed and scores 0


class Interrupted(Exception):
    """SIGTERM or SIGHUP to mh-run: handled like Ctrl+C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


class Run:
    def __init__(self, tree: Path, plan: Plan, run_id: str, say: Callable[[str], None]) -> None:
        self.tree, self.plan, self.run_id, self.say = tree, plan, run_id, say
        self.dir = tree / "runs" / run_id
        self.record: dict[str, Any] = {"run_id": run_id, "plan": str(plan.path), "strategy": plan.strategy,
                                       "started": now_iso(), "status": "running", "harnesses": {}}
        self.previous: dict[str, Any] | None = None  # with --resume, the earlier record's harnesses
        self.started = False  # whether this run has spawned or adopted a harness
        self.lock_fd: int | None = None  # holds runs/<run-id>/lock while this run coordinates
        # A plan's budget_usd/budget_tokens: a budget named after the run, in every harness's groups.
        self.budget = run_id if plan.budget_usd is not None or plan.budget_tokens is not None else None
        if self.budget:
            self.record["budget"] = self.budget

    # -- bookkeeping -------------------------------------------------------------------

    def _save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.dir / "run.json", self.record, durable=True)

    def _entry(self, harness_id: str) -> dict[str, Any]:
        return self.record["harnesses"].setdefault(harness_id, {})

    def _note(self, harness_id: str, **fields: Any) -> None:
        self._entry(harness_id).update(fields)
        self._save()

    # -- starting ----------------------------------------------------------------------

    def check(self, resume: bool) -> None:
        """Refuse what would make the run refuse a spawn once others had started: a plan id
        held by a live harness that is not this run's to adopt; with `resume`, no run."""
        if self.budget:
            from metaharness.values import account

            try:
                account(self.budget)
            except ValueError:
                raise MhError(f"run id {self.run_id!r} cannot name the plan's budget (at most 64 letters, digits, "
                              "'.', '_', '-'): give one with --run-id", Exit.USAGE) from None
        if resume:
            try:
                self.previous = read_json(self.dir / "run.json").get("harnesses", {})
            except FileNotFoundError:
                raise MhError(f"no run {self.run_id} to resume (no {self.dir / 'run.json'})", Exit.USAGE) from None
        for h in self.plan.harnesses:
            view = self._view(h.id)
            if view is not None and view.status.is_live and not self._ours(view):
                raise MhError(f"harness {h.id} is already running, outside this run (mh-stop it first)", Exit.ID_TAKEN)

    def _view(self, harness_id: str) -> harness.View | None:
        return harness.inspect(self.tree / harness_id) if (self.tree / harness_id).is_dir() else None

    def _ours(self, view: harness.View) -> bool:
        """Whether --resume may keep or adopt this harness: the earlier record names its
        instance, or its spec names this run (mh-run may have been killed after the spawn
        but before it recorded the instance)."""
        if self.previous is None:
            return False
        return view.instance == self.previous.get(view.id, {}).get("instance") or view.spec.get("run") == self.run_id

    def _start(self, h: HarnessPlan) -> str:
        """Spawn, keep or adopt `h`; return what was done."""
        view = self._view(h.id)
        if view is not None and self._ours(view):
            if view.status is Status.COMPLETED:
                self._note(h.id, instance=view.instance, status="completed", exit_code=0)
                return "kept"
            if view.status.is_live:
                self.started = True
                self._note(h.id, instance=view.instance, status="running")
                return "adopted"
        from metaharness.start import prepare, start_elsewhere

        request = h.request(self.plan.path.parent, tuple(self.plan.dependencies(h)), self.run_id, self.budget)
        try:
            spec, _ = prepare(request)
            start_elsewhere(self.tree, spec, self.plan.path.parent)  # hooks run in the plan's directory
        except MhError as e:
            raise MhError(f"cannot spawn {h.id}: {e}", e.code) from None
        except OSError as e:  # as mh-spawn reported it: never a half-recorded run
            raise MhError(f"cannot spawn {h.id}: {e.filename or ''}: {e.strerror or e}", Exit.SYSTEM) from None
        self.started = True
        self._note(h.id, instance=harness.inspect(self.tree / h.id).instance, status="running")
        return "spawned"

    # -- the run -----------------------------------------------------------------------

    def _claim(self) -> None:
        """Hold `runs/<run-id>/lock` until mh-run exits, so a run has one coordinator (two
        `--resume` of one run would both spawn, adopt and cancel); ID_TAKEN if it is held."""
        from metaharness.liveness import hold_lock

        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self.lock_fd = hold_lock(self.dir / "lock")  # close-on-exec, and harnesses start in a fresh interpreter: none holds it
        except BlockingIOError:
            raise self._taken() from None

    def _taken(self) -> MhError:
        return MhError(f"run {self.run_id} is already running", Exit.ID_TAKEN)

    def execute(self, resume: bool) -> int:
        from metaharness.liveness import lock_is_held

        # Before check, which would take the running run's harnesses for someone else's.
        if lock_is_held(self.dir / "lock"):
            raise self._taken()
        self.check(resume)
        self._claim()
        if self.budget:  # a resumed run keeps what it spent: the ledger stays, the caps are the plan's
            from metaharness.budgets import set_budget

            set_budget(self.tree, self.budget, self.plan.budget_usd, self.plan.budget_tokens, False)
        self._save()
        pending = self._in_dependency_order()
        live: list[str] = []
        outcomes: dict[str, Outcome] = {}
        # One waiter per harness for the whole run, all reporting here: waiting afresh after
        # every end would leave a thread and two fds per live harness each time (N^2/2 fds).
        ended: queue.Queue[Outcome] = queue.Queue()
        try:
            while pending or live:
                while pending and (self.plan.max_parallel is None or len(live) < self.plan.max_parallel):
                    h = pending.pop(0)
                    try:
                        done = self._start(h)
                    except MhError as e:
                        raise self._abandon(h.id, e, live) from None
                    self.say(f"{h.id}: {done}")
                    if done != "kept":
                        live.append(h.id)
                        watch_end(self.tree, h.id, ended, appear_within=5.0)
                        continue
                    outcomes[h.id] = Outcome(h.id, Status.COMPLETED, Exit.OK, "completed in an earlier run")
                    if self.plan.rules.decided(self.plan, outcomes[h.id], outcomes):  # e.g. a race won before a resume
                        self._cancel(live + [p.id for p in pending], "the run is decided")
                        pending, live = [], []
                if not live:
                    continue
                outcome = self._maybe_skipped(ended.get())
                live.remove(outcome.id)
                outcomes[outcome.id] = outcome
                word = outcome.status.value if outcome.status else "skipped"
                self._note(outcome.id, status=word, exit_code=outcome.exit_code, reason=outcome.reason)
                self.say(f"{outcome.id}: {word} ({outcome.reason})")
                if self.plan.rules.decided(self.plan, outcome, outcomes):
                    self._cancel(live + [h.id for h in pending], "the run is decided")
                    for h in pending:
                        self._note(h.id, status="cancelled")
                    pending, live = [], []
        except (KeyboardInterrupt, Interrupted) as e:
            # Every live harness of this run, including one spawned a moment before the signal.
            ours = [h.id for h in self.plan.harnesses if (self.tree / h.id).is_dir()
                    and harness.inspect(self.tree / h.id).spec.get("run") == self.run_id]
            self._cancel(ours, "mh-run was interrupted")
            self.record.update(status="interrupted", ended=now_iso())
            self._save()
            return 128 + e.signum if isinstance(e, Interrupted) else Exit.SIGINT
        return self._conclude(outcomes)

    def _abandon(self, harness_id: str, error: MhError, live: list[str]) -> MhError:
        """After a refused spawn: cancel what runs, record the run failed, and return the
        error to raise, with the usage status only if nothing was started."""
        self._note(harness_id, status="failed", reason=str(error))
        self._cancel(live, f"could not spawn {harness_id}")
        code = Exit.FAILED if error.code == Exit.USAGE and self.started else error.code
        self.record.update(status="failed", exit_code=int(code), ended=now_iso())
        self._save()
        return MhError(str(error), code)

    def _maybe_skipped(self, outcome: Outcome) -> Outcome:
        """With on_dependency_failure: skip, a harness failed by its dependency is skipped, not failed."""
        if (self.plan.on_dependency_failure == "skip" and outcome.status is Status.FAILED
                and outcome.reason.startswith("dependency ")):
            return Outcome(outcome.id, None, Exit.OK, f"skipped: {outcome.reason}", outcome.instance)
        return outcome

    def _in_dependency_order(self) -> list[HarnessPlan]:
        """Plan order, except that a harness always comes after what it depends on, so a
        dependent never holds a max_parallel slot its dependency needs."""
        ordered: list[HarnessPlan] = []
        remaining = list(self.plan.harnesses)
        while remaining:
            ready = next(h for h in remaining if all(d in {o.id for o in ordered} for d in self.plan.dependencies(h)))
            ordered.append(ready)
            remaining.remove(ready)
        return ordered

    def _cancel(self, ids: list[str], reason: str) -> None:
        """Stop harnesses gracefully and wait until they have ended; record them cancelled."""
        running = [i for i in ids if (self.tree / i).is_dir() and harness.inspect(self.tree / i).status.is_live]
        for harness_id in running:
            directory = self.tree / harness_id
            harness.request_stop(directory, harness.inspect(directory).instance, f"mh-run {self.run_id}", reason)
        for harness_id in running:
            await_end(self.tree, harness_id, appear_within=0)
            view = harness.inspect(self.tree / harness_id)
            usage = (view.result or {}).get("usage") or {}
            # What stopping it saved, at most: the rest of its budget and of its iterations.
            saved = {"iterations": max(0, (view.spec.get("max_iterations") or 0) - (view.result or {}).get("iterations", 0))}
            if view.spec.get("budget_usd") is not None:
                saved["usd"] = round(max(0.0, view.spec["budget_usd"] - usage.get("cost_usd", 0.0)), 4)
            self._note(harness_id, status="cancelled", reason=reason, usage_at_cancel=usage, saved_at_most=saved)
            self.say(f"{harness_id}: cancelled")

    def _conclude(self, outcomes: dict[str, Outcome]) -> int:
        order = [h.id for h in self.plan.harnesses]
        code, winner = self.plan.rules.conclude(self.plan, outcomes, self._vote)
        totals: dict[str, float] = {}
        for harness_id in order:
            result = (harness.inspect(self.tree / harness_id).result or {}) if (self.tree / harness_id).is_dir() else {}
            usage = result.get("usage") or {}
            self._entry(harness_id).update(iterations=result.get("iterations"), duration_s=result.get("duration_s"),
                                           usage=usage)
            if result.get("worktree"):
                self._entry(harness_id)["worktree"] = result["worktree"]
            for key, value in usage.items():
                totals[key] = round(totals.get(key, 0) + value, 6)
        # A winner with a worktree is reported by its branch: that is what the user merges.
        branch = (self._entry(winner).get("worktree") or {}).get("branch") if winner else None
        self.record.update(status="completed" if code == Exit.OK else "failed", exit_code=int(code), winner=winner,
                           winner_branch=branch, totals=totals, ended=now_iso())
        self._save()
        if winner:
            self.say(f"winner: {winner}" + (f" (branch {branch}: git merge {branch})" if branch else ""))
        return code

    def _vote(self, completed: list[str]) -> str | None:
        """Rank the completed candidates by the plan's criteria in order (score: higher wins;
        cost, duration: lower wins); the first in the plan breaks a full tie."""
        ranked = []
        for harness_id in completed:
            result = harness.inspect(self.tree / harness_id).result or {}
            measures = {"score": self._score(self.plan.get(harness_id)),
                        "cost": (result.get("usage") or {}).get("cost_usd", 0.0), "duration": result.get("duration_s", 0.0)}
            self._note(harness_id, score=measures["score"], cost_usd=measures["cost"], duration_s=measures["duration"])
            key = tuple(-measures[c] if c == "score" else measures[c] for c in self.plan.settings["score_by"])
            ranked.append((key, completed.index(harness_id), harness_id))
        return min(ranked)[-1] if ranked else None

    def _score(self, h: HarnessPlan) -> float:
        """`score_cmd` in the candidate's worktree, or else its workdir: a number it prints, else
        1 for exit 0 and 0 otherwise."""
        score_cmd = self.plan.settings.get("score_cmd")
        if not score_cmd:
            return 1.0
        view = harness.inspect(self.tree / h.id)
        workdir = self.plan.path.parent / h.options.get("workdir", ".")
        made, wanted = view.state.get("worktree"), view.spec.get("worktree")
        if isinstance(made, dict) and isinstance(wanted, dict):  # the same place in its worktree
            workdir = Path(made["path"]) / workdir.resolve().relative_to(Path(wanted["repo"]).resolve())
        from metaharness.process import capture_bounded

        try:  # in a group of its own, ended whole if it hangs: nothing it starts outlives mh-run
            proc = capture_bounded(["/bin/sh", "-c", score_cmd], {**os.environ, "MH_ID": h.id},
                                   SCORE_TIMEOUT_SECONDS, cwd=workdir)
        except OSError as e:
            self._note(h.id, score_error=str(e))
            return 0.0
        if proc is None:
            self._note(h.id, score_error=f"score_cmd still running after {SCORE_TIMEOUT_SECONDS:g}s: killed")
            return 0.0
        numbers = _NUMBER.findall(proc.stdout)
        if numbers:
            return float(numbers[-1])
        return 1.0 if proc.returncode == 0 else 0.0


def default_run_id(plan_path: Path) -> str:
    """The same plan file always gets the same run id, so --resume finds it."""
    import hashlib

    digest = hashlib.sha256(str(plan_path.resolve()).encode()).hexdigest()[:8]
    stem = re.sub(r"[^A-Za-z0-9._-]", "-", plan_path.stem)
    return f"{stem}-{digest}"


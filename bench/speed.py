#!/usr/bin/env python3
"""What a shell user pays for metaharness, beside the floor and the peers, in one run.

Every number is a median measured in this run on this machine: the Python floor
(`python -c pass` of the same interpreter and install), nq and task-spooler (C), GNU
parallel (Perl) and plain `&`/`wait`. Prints a table of medians and ratios; writes every
number to JSON. Run it through bench/run, which installs the peers and .venv first.

  --quick         fewer runs and no 10,000-harness tree (a minute or two)
  --baseline REV  the same verb benchmarks for git revision REV too, side by side
  --only NAMES    some of: installs, verbs, foreground, hundred, status, latency, idle
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMPLETE = "echo '<promise>COMPLETE</promise>'"
SECTIONS = ("installs", "verbs", "foreground", "hundred", "status", "latency", "idle")


@dataclass
class Install:
    """One installed metaharness: its label and the venv whose bin/ has python and mh-*."""

    label: str
    venv: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, root: Path, **extra: str) -> dict[str, str]:
        return {**os.environ, "MH_ROOT": str(root), "PATH": f"{self.bin}:{os.environ['PATH']}", **extra}


@dataclass
class Row:
    """One line of the table: what, its median, and what it is compared with."""

    what: str
    value: float  # seconds (or MiB / ticks where unit says so)
    unit: str = "ms"
    versus: dict[str, float] = field(default_factory=dict)  # peer or floor -> its median
    ratio_to: str | None = None  # the entry of `versus` the ratio is taken against
    target: str = ""

    def cells(self) -> list[str]:
        def shown(v: float) -> str:
            return f"{v * 1000:.1f} ms" if self.unit == "ms" else f"{v:.2f} s" if self.unit == "s" else f"{v:g} {self.unit}"
        peers = " · ".join(f"{k} {shown(v)}" for k, v in self.versus.items())
        ratio = f"{self.value / self.versus[self.ratio_to]:.1f}× {self.ratio_to}" if self.ratio_to else ""
        return [self.what, shown(self.value), peers, ratio, self.target]


# --- running things -----------------------------------------------------------------

def sh(script: str, env: dict[str, str], cwd: Path) -> None:
    subprocess.run(["bash", "-c", script], env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def hyperfine(commands: dict[str, str], env: dict[str, str], cwd: Path, runs: int,
              prepare: str | None = None) -> dict[str, dict[str, float]]:
    """Median wall time and mean CPU (user + system, children included) of each command."""
    out = cwd / "hyperfine.json"
    args = ["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--export-json", str(out), "--style", "none"]
    if prepare:
        args += ["--prepare", prepare]
    for name, command in commands.items():
        args += ["-n", name, command]
    ran = subprocess.run(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if ran.returncode:
        sys.exit(f"bench/speed.py: hyperfine failed:\n{ran.stderr}")
    results = json.loads(out.read_text())["results"]
    return {r["command"]: {"wall": r["median"], "cpu": r["user"] + r["system"]} for r in results}


def repeat(runs: int, script: str, env_for, cwd: Path) -> float:  # type: ignore[no-untyped-def]
    """Median wall time of a bash script, each run in a fresh environment from env_for(run)."""
    times = []
    for run in range(runs):
        env = env_for(run)
        start = time.perf_counter()
        sh(script, env, cwd)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


# --- installs -----------------------------------------------------------------------

def prepare_install(label: str, source: Path, mode: str) -> Install:
    """A venv under bench/.venvs with metaharness from `source` installed the `mode` way:
    regular (pip install .), compat (editable, a path entry) or finder (setuptools' default
    editable, an import hook every Python start in the venv loads). Made again when the
    source's commit changes; byte-compiled as an installed package would be."""
    venv = REPO / "bench" / ".venvs" / label
    commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "metaharness"], capture_output=True,
                           text=True, check=True).stdout
    stamp = venv / ".bench-stamp"
    want = f"{mode} {commit} {hash(dirty) if mode == 'regular' else ''}"
    if not (stamp.exists() and stamp.read_text() == want):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        if mode == "regular":
            subprocess.run([*pip, str(source)], check=True, stderr=subprocess.DEVNULL)
        else:
            extra = ["--config-settings", "editable_mode=compat"] if mode == "compat" else []
            subprocess.run([*pip, "-e", str(source), *extra], check=True, stderr=subprocess.DEVNULL)
        stamp.write_text(want)
    if mode != "regular":  # an installed package has its bytecode; a checkout gets it now
        compileall.compile_dir(source / "metaharness", quiet=1)
    return Install(label, venv)


def baseline_source(rev: str) -> Path:
    """A worktree of the repository at `rev`, under bench/.venvs."""
    path = REPO / "bench" / ".venvs" / f"src-{rev.replace('/', '_')}"
    if path.exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=False)
        shutil.rmtree(path, ignore_errors=True)
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(path), rev], check=True)
    return path


# --- the benchmarks -----------------------------------------------------------------

def roadmap(root: Path) -> Path:
    road = root / "r.md"
    road.write_text("- [ ] one\n")
    return road


def bench_installs(installs: list[Install], runs: int, tmp: Path) -> list[Row]:
    """python -c pass and mh-send in each install mode."""
    rows = []
    for inst in installs:
        root = tmp / f"installs-{inst.label}"
        root.mkdir()
        env = inst.env(root)
        sh(f"mh-spawn live {roadmap(root)} --agent-cmd 'sleep 600' --detach", env, root)
        got = hyperfine({"floor": f"{inst.bin}/python -c pass", "send": "mh-send live hi"}, env, root, runs)
        sh("mh-stop live", env, root)
        rows.append(Row(f"python -c pass ({inst.label} install)", got["floor"]["wall"]))
        rows.append(Row(f"mh-send ({inst.label} install)", got["send"]["wall"],
                        versus={"python": got["floor"]["wall"]}, ratio_to="python"))
    return rows


def bench_verbs(inst: Install, runs: int, tmp: Path) -> list[Row]:
    """The verbs users put in loops, on a tree of ten ended harnesses and one live one."""
    root = tmp / f"verbs-{inst.label}"
    root.mkdir()
    env = inst.env(root, NQDIR=str(root / "nq"))
    road = roadmap(root)
    sh(f"for i in $(seq 10); do mh-spawn h$i {road} --agent-cmd \"{COMPLETE}\" -q; done; "
       f"mh-spawn live {road} --agent-cmd 'sleep 600' --detach", env, root)
    commands = {"floor": f"{inst.bin}/python -c pass", "send": "mh-send live hi", "wait": "mh-wait h1",
                "status": "mh-status", "status_json": "mh-status --json"}
    if have("nq"):
        commands["nq"] = "nq -q true"
    got = hyperfine(commands, env, root, runs)
    sh("mh-stop live", env, root)
    floor = got["floor"]["wall"]
    peers = {"python": floor, **({"nq": got["nq"]["wall"]} if "nq" in got else {})}
    tag = f" [{inst.label}]"
    return [
        Row("python -c pass" + tag, floor),
        Row("mh-send ID hi" + tag, got["send"]["wall"], versus=peers, ratio_to="python", target="≤ 2×"),
        Row("mh-wait (ended harness)" + tag, got["wait"]["wall"], versus={"python": floor}, ratio_to="python",
            target="≤ 2×"),
        Row("mh-status (11 harnesses)" + tag, got["status"]["wall"], versus={"python": floor}, ratio_to="python",
            target="≤ 3×"),
        Row("mh-status --json (11)" + tag, got["status_json"]["wall"], versus={"python": floor},
            ratio_to="python"),
    ]


def bench_foreground(inst: Install, runs: int, tmp: Path) -> list[Row]:
    """One trivial harness in the foreground, from start to its exit status."""
    root = tmp / f"fg-{inst.label}"
    root.mkdir()
    env = inst.env(root, NQDIR=str(root / "nq"))
    road = roadmap(root)
    commands = {"floor": f"{inst.bin}/python -c pass",
                "harness": f"mh-spawn fg {road} -q --agent-cmd \"{COMPLETE}\""}
    if have("nq"):
        commands["nq"] = "sh -c 'nq -q true >/dev/null && nq -w'"
    got = hyperfine(commands, env, root, runs, prepare=f"sh -c 'rm -rf {root}/.harness/fg {root}/.harness/.archive/fg.*'")
    floor, harness = got["floor"], got["harness"]
    rows = [Row("trivial foreground harness, wall" + f" [{inst.label}]", harness["wall"],
                versus={"python": floor["wall"]}, ratio_to="python", target="≤ 5×"),
            Row("trivial foreground harness, CPU" + f" [{inst.label}]", harness["cpu"],
                versus={"python": floor["cpu"], **({"nq + nq -w": got["nq"]["cpu"]} if "nq" in got else {})},
                ratio_to="python", target="≤ 40 ms")]
    return rows


def bench_hundred(inst: Install, runs: int, tmp: Path) -> list[Row]:
    """Launch 100 trivial jobs in the background, then wait for all of them."""
    n = 100
    road = roadmap(tmp)
    ids = " ".join(f"d{i}" for i in range(n))
    scripts = {
        "metaharness": f"for i in $(seq 0 {n - 1}); do mh-spawn d$i {road} -q --detach --agent-cmd \"{COMPLETE}\" "
                       f">/dev/null; done; mh-wait {ids}",
        "mh-queue + mh-pool -n 8": f"for i in $(seq 0 {n - 1}); do cp {road} q$i.md; done; mh-queue add q*.md >/dev/null "
                                   f"&& mh-pool -n 8 --exit-when-empty -q --agent-cmd \"{COMPLETE}\"",
        "python": f"for i in $(seq {n}); do {inst.bin}/python -c pass; done",
        "bash &/wait": f"for i in $(seq {n}); do true & done; wait",
    }
    if have("nq"):
        scripts["nq"] = f"for i in $(seq {n}); do nq -q true >/dev/null; done; nq -w"
    if have("tsp"):
        scripts["task-spooler"] = (f"tsp -S {n}; ids=; for i in $(seq {n}); do ids=\"$ids $(tsp true)\"; done; "
                                   "for j in $ids; do tsp -w $j; done; tsp -K")
    if have("parallel"):
        # Two ways to use it: one call given all 100 jobs (what mh-queue + mh-pool compares
        # with), and sem, one call a job like mh-spawn --detach, nq and tsp (what that compares with).
        scripts["GNU parallel, one call"] = f"parallel --will-cite true ::: $(seq {n})"
        scripts["GNU parallel sem, a call a job"] = (f"for i in $(seq {n}); do sem --will-cite -j+0 true; done; "
                                                     "sem --will-cite --wait")
    got = {}
    for name, script in scripts.items():
        def env_for(run: int, name: str = name) -> dict[str, str]:
            place = tmp / f"hundred-{inst.label}-{''.join(c if c.isalnum() else '-' for c in name)}-{run}"
            place.mkdir()
            return inst.env(place, NQDIR=str(place / "nq"), TS_SOCKET=str(place / "ts.socket"),
                            PARALLEL_HOME=str(place / "parallel"))
        got[name] = repeat(runs, script, env_for, tmp)
    spawned, queued = got.pop("metaharness"), got.pop("mh-queue + mh-pool -n 8")
    one_call = {k: v for k, v in got.items() if k in ("python", "GNU parallel, one call")}
    return [Row(f"100 detached trivial harnesses + mh-wait all [{inst.label}]", spawned, unit="s",
                versus={k: v for k, v in got.items() if k != "GNU parallel, one call"},
                ratio_to="python", target="≤ 2.5× python, ahead of GNU parallel"),
            Row(f"the same 100 through mh-queue + mh-pool -n 8 [{inst.label}]", queued, unit="s",
                versus=one_call, ratio_to="python")]


def synthetic_tree(root: Path, template: Path, count: int) -> None:
    """`count` ended harnesses, copies of a real one (ids h0..), under root/.harness."""
    tree = root / ".harness"
    for sub in (".tmp", ".archive"):
        (tree / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy(template.parent / "FORMAT", tree / "FORMAT")
    files = {name: (template / name).read_text() for name in ("spec.json", "state.json", "result.json")}
    for i in range(count):
        target = tree / f"h{i}"
        shutil.copytree(template, target, symlinks=True, ignore=shutil.ignore_patterns("*.json"))
        for name, text in files.items():
            (target / name).write_text(text.replace('"id": "template"', f'"id": "h{i}"'))


def bench_status(inst: Install, runs: int, tmp: Path, sizes: list[int]) -> list[Row]:
    """mh-status as the tree grows."""
    seed = tmp / f"status-seed-{inst.label}"
    seed.mkdir()
    sh(f"mh-spawn template {roadmap(seed)} -q --agent-cmd \"{COMPLETE}\"", inst.env(seed), seed)
    rows = []
    for size in sizes:
        root = tmp / f"status-{inst.label}-{size}"
        root.mkdir()
        synthetic_tree(root, seed / ".harness" / "template", size)
        got = hyperfine({"floor": f"{inst.bin}/python -c pass", "table": "mh-status", "json": "mh-status --json"},
                        inst.env(root), root, max(3, runs // (1 + size // 1000)))
        floor = got["floor"]["wall"]
        target = "≤ 15×" if size == 1000 else ""
        rows.append(Row(f"mh-status, {size:,} harnesses [{inst.label}]", got["table"]["wall"],
                        versus={"python": floor, "--json": got["json"]["wall"]}, ratio_to="python", target=target))
    return rows


def bench_latency(inst: Install, runs: int, tmp: Path) -> list[Row]:
    """From an agent's (job's) last act to the return of a waiter already blocked on it."""
    root = tmp / f"latency-{inst.label}"
    root.mkdir()
    road = roadmap(root)
    waits: dict[str, list[float]] = {"metaharness": [], "nq -w": [], "tsp -w": []}
    env = inst.env(root, NQDIR=str(root / "nq"), TS_SOCKET=str(root / "ts.socket"))
    if have("tsp"):
        sh("tsp -S 4", env, root)
    for run in range(runs):
        gate, stamp = root / f"gate{run}", root / f"stamp{run}"
        job = f"while [ ! -e {gate} ]; do sleep 0.005; done; date +%s.%N > {stamp}"
        starts = {"metaharness": lambda: sh(f"mh-spawn w{run} {road} -q --detach --agent-cmd "
                                           f"\"{job}; {COMPLETE}\" >/dev/null", env, root) or ["mh-wait", f"w{run}"]}
        if have("nq"):
            starts["nq -w"] = lambda: ["nq", "-w", subprocess.run(["nq", "sh", "-c", job], env=env, cwd=root,
                                                                  capture_output=True, text=True).stdout.strip()]
        if have("tsp"):
            starts["tsp -w"] = lambda: ["tsp", "-w", subprocess.run(["tsp", "sh", "-c", job], env=env, cwd=root,
                                                                    capture_output=True, text=True).stdout.strip()]
        for name, begin in starts.items():
            waiter = subprocess.Popen(begin(), env=env, cwd=root, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            time.sleep(0.3)  # let the waiter block: latency from a waiter that is not yet waiting means nothing
            gate.touch()
            waiter.wait()
            waits[name].append(time.time() - float(stamp.read_text()))
            gate.unlink()
            stamp.unlink()
    if have("tsp"):
        sh("tsp -K", env, root)
    mh = statistics.median(waits.pop("metaharness"))
    return [Row(f"wait latency: agent exit → blocked mh-wait returns [{inst.label}]", mh,
                versus={k: statistics.median(v) for k, v in waits.items() if v}, target="≤ 5 ms")]


def bench_idle(inst: Install, tmp: Path) -> list[Row]:
    """An idle supervisor (its agent sleeps): resident memory and CPU ticks over 5 s."""
    root = tmp / f"idle-{inst.label}"
    root.mkdir()
    env = inst.env(root)
    sh(f"mh-spawn idle {roadmap(root)} -q --detach --agent-cmd 'sleep 600'", env, root)
    state = root / ".harness" / "idle" / "state.json"
    for _ in range(500):  # until the supervisor has published itself: mh-spawn returns before it does
        if (record := json.loads(state.read_text())).get("status") == "running":
            break
        time.sleep(0.01)
    pid = record["pid"]
    time.sleep(1)

    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    before = ticks()
    time.sleep(5)
    used = ticks() - before
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    sh("mh-stop idle", env, root)
    return [Row(f"idle supervisor, resident memory [{inst.label}]", round(rss / 1024, 1), unit="MiB",
                target="< 20 MiB"),
            Row(f"idle supervisor, CPU ticks in 5 s [{inst.label}]", used, unit="ticks", target="0")]


# --- the report ---------------------------------------------------------------------

def table(rows: list[Row]) -> str:
    lines = [["what", "median", "floor / peers", "ratio", "target"], *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, help="runs per measurement (default 30, --quick 10)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", type=Path, default=REPO / "bench" / "last.json", help="where the numbers go")
    p.add_argument("--baseline", metavar="REV", help="also measure git revision REV (e.g. a tag or main~5)")
    p.add_argument("--only", type=lambda s: s.split(","), default=list(SECTIONS))
    args = p.parse_args()
    if unknown := set(args.only) - set(SECTIONS):
        p.error(f"--only: no such section: {', '.join(sorted(unknown))}")
    if not have("hyperfine"):
        print("bench/speed.py: hyperfine is missing (bench/run installs it)", file=sys.stderr)
        return 2
    runs = args.runs or (10 if args.quick else 30)
    few = max(3, runs // 10)
    current = prepare_install("current", REPO, "compat")
    installs = [current] + ([prepare_install("baseline", baseline_source(args.baseline), "compat")]
                           if args.baseline else [])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="mh-bench-") as name:
        tmp = Path(name)
        if "installs" in args.only:
            modes = [prepare_install("regular", REPO, "regular"), current, prepare_install("finder", REPO, "finder")]
            rows += bench_installs(modes, runs, tmp)
        for inst in installs:
            if "verbs" in args.only:
                rows += bench_verbs(inst, runs, tmp)
            if "foreground" in args.only:
                rows += bench_foreground(inst, runs, tmp)
            if "hundred" in args.only:
                rows += bench_hundred(inst, few, tmp)
            if "status" in args.only:
                rows += bench_status(inst, runs, tmp, [10, 100, 1000] + ([] if args.quick else [10000]))
            if "latency" in args.only:
                rows += bench_latency(inst, few * 2, tmp)
            if "idle" in args.only:
                rows += bench_idle(inst, tmp)
    print(table(rows))
    machine = {"cores": os.cpu_count(), "python": sys.version.split()[0], "when": time.strftime("%Y-%m-%d %H:%M")}
    # Times are kept in seconds whatever the table shows them in (unit "ms" is a display unit).
    stored = [{**r.__dict__, "unit": "s" if r.unit in ("ms", "s") else r.unit} for r in rows]
    args.json.write_text(json.dumps({"machine": machine, "rows": stored}, indent=1) + "\n")
    print(f"\n{machine['cores']} cores, Python {machine['python']}; numbers in {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""--sandbox bwrap: the agent runs in a bubblewrap sandbox.

Inside, the whole filesystem is read-only but for the agent's working directory (its
worktree and the repository's .git, with --worktree), its harness directory, the agent
CLI's own configuration directory (it keeps sessions and logs there: ~/.claude and
~/.claude.json, $CODEX_HOME or ~/.codex, ~/.gemini) and a private /tmp, over which the
directories of the real /tmp that hold its programs (on PATH, metaharness itself) are
laid read-only. It has its own pid
namespace, dies with the supervisor, and with --sandbox-net off has no network. The agent
stays in the process group the supervisor made for it, so ending an iteration ends the
sandbox with it; stop requests, messages, heartbeats and locks are the supervisor's, outside.

An agent that sandboxes its own commands with bubblewrap cannot nest it inside ours as
root (mounting /proc fails): metaharness runs Codex with its sandbox off by default, and
Claude Code's is off unless configured.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Final

MISSING: Final = "--sandbox bwrap needs bubblewrap, which is not installed (Debian: apt-get install bubblewrap)"


def require() -> str:
    """The bwrap executable; MhError (usage) if there is none."""
    found = shutil.which("bwrap")
    if found is None:
        raise MhError(MISSING, Exit.USAGE)
    return found


def config_dirs(agent: str, env: dict[str, str]) -> list[Path]:
    """Where the agent CLI keeps its configuration, credentials and sessions."""
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    if agent == "claude":
        return [Path(env["CLAUDE_CONFIG_DIR"])] if env.get("CLAUDE_CONFIG_DIR") else [home / ".claude", home / ".claude.json"]
    if agent == "codex":
        return [Path(env.get("CODEX_HOME") or home / ".codex")]
    if agent == "gemini":
        return [home / ".gemini"]
    return []


def _programs_under_tmp(program: str, env: dict[str, str]) -> list[Path]:
    """The directories right under /tmp that hold programs the agent runs: its own
    executable, the PATH entries, metaharness and its Python (installed under /tmp, say
    by a CI job). They stay visible, read-only, over the sandbox's own /tmp."""
    import sys

    found = shutil.which(program, path=env.get("PATH"))
    places = [*(env.get("PATH") or "").split(os.pathsep), sys.prefix, sys.executable, __file__,
              *([found] if found else [])]
    tmp = Path("/tmp")
    tops = set()
    for place in places:
        for path in {Path(place).absolute(), Path(os.path.realpath(place))} if place else ():
            if len(path.parts) > 2 and path.parts[:2] == ("/", "tmp") and (tmp / path.parts[2]).is_dir():
                tops.add(tmp / path.parts[2])
    return sorted(tops)


def wrap(argv: list[str], *, agent: str, env: dict[str, str], workdir: Path, writable: list[Path],
         network: bool) -> list[str]:
    """`argv` run in `workdir` inside the sandbox, able to write only there, to `writable`,
    to a /tmp of its own and to the agent's configuration."""
    command = [require(), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
               "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]
    if not network:
        command.append("--unshare-net")
    for path in config_dirs(agent, env):
        if not path.exists() and not path.suffix:  # a directory the CLI would make: make it, so it can be bound
            path.mkdir(parents=True, exist_ok=True)
        command += ["--bind-try", str(path), str(path)]
    for path in _programs_under_tmp(argv[0], env):  # what it runs must not vanish under the private /tmp
        command += ["--ro-bind", str(path), str(path)]
    for path in (workdir, *writable):  # after /tmp: a directory under /tmp is the real one, not the private one
        command += ["--bind", str(path), str(path)]
    return command + ["--chdir", str(workdir), "--", *argv]

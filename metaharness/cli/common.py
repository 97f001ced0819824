"""What every verb shares: argument parsing that fails in one line, and error reporting.

A verb's `main` hands its body to `run`, which turns MhError into `mh-VERB: error: ...`
and its exit status, an OSError into the SYSTEM status, and anything else (a bug) into a
traceback and the SOFTWARE status, so a bug never looks like an ordinary "no".
"""

from __future__ import annotations

import os
import sys

from metaharness import values
from metaharness.cli import args
from metaharness.exits import Exit, MhError

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    from typing import Callable, Final, Sequence

# How long a verb that names a harness (mh-wait, mh-send, mh-stop) waits for it to appear,
# so `mh-spawn a ... & mh-send a ...` in a script or Makefile never races the spawn.
APPEAR_GRACE_SECONDS: Final = 10.0


Parser = args.Parser
parser, subcommands, argtype = args.parser, args.subcommands, args.argtype


duration = argtype(values.duration)
positive_duration = argtype(values.positive_duration)
policy = argtype(values.policy)
positive_int = argtype(values.positive_int)
positive_amount = argtype(values.positive_amount)


def bounded_int(text: str, low: int, high: int, what: str = "an integer") -> int:
    """An integer from `low` to `high`, or an argparse error naming the range."""
    return argtype(lambda t: values.bounded_int(t, low, high, what))(text)


def run(verb: str, body: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None) -> int:
    """Run a verb's body and map its outcome to an exit status."""
    try:
        return body(argv)
    except MhError as e:
        return fail(verb, str(e), e.code)
    except KeyboardInterrupt:
        return Exit.SIGINT
    except BrokenPipeError:
        # The reader went away (`mh-status | head`): not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.OK
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        if os.environ.get("MH_DEBUG") == "1":
            import traceback

            traceback.print_exc()
        return fail(verb, f"{where}{e.strerror or e}", Exit.SYSTEM)
    except Exception:
        import traceback

        traceback.print_exc()
        return fail(verb, "internal error (a bug in metaharness; the traceback is above)", Exit.SOFTWARE)


def exit_at_once(code: int) -> int:
    """End the process with `code` now, skipping the interpreter's teardown, which takes an
    `mh-wait` about 3 ms between a harness's end and the return of the script waiting for
    it. Returns `code` instead (for an ordinary exit) when the teardown has work to do:
    callbacks registered with atexit, or a thread that is not a daemon still running.
    For the verbs users call in loops (and mh-spawn), which write nothing but through
    closed files."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return code  # let the ordinary exit report or ignore it as it always has
    import atexit

    threading = sys.modules.get("threading")
    if getattr(atexit, "_ncallbacks", lambda: 1)() or (threading is not None and (
            getattr(threading, "_threading_atexits", None)
            or any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()))):
        return code
    os._exit(code)


def fail(verb: str, message: str, code: int) -> int:
    one_line = message.replace("\n", "\\n")  # a path or a value may hold a newline
    print(f"mh-{verb}: error: {one_line}", file=sys.stderr)
    return code

"""How a supervisor receives SIGINT, SIGTERM and SIGHUP without ever losing one.

mh-spawn blocks these signals before the harness exists, so one arriving while it is
being created stays pending instead of killing a half-started supervisor; the catcher
unblocks them once it can turn them into an `interrupted` result.

A Python signal handler runs on the main thread between any two bytecodes, possibly while
that thread holds the lock inside the Event the handler would set: a deadlock. So the
handlers do nothing; the kernel writes each signal's number to a wakeup pipe, and a thread
reading that pipe records the signal and sets the supervisor's wake event.
"""

from __future__ import annotations

# _signal, the C module under signal, whose numbers are plain ints: signal wraps them in
# enums, and importing enum would cost every supervisor and mh-spawn some 3 ms.
import _signal
import os

TYPE_CHECKING = False  # typing is for the type checker: importing it costs every start ~3 ms
if TYPE_CHECKING:
    import threading  # imported by the catcher, which starts one: hold() and release() need none
    from typing import Final

HANDLED: Final = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)


def hold() -> set[int]:
    """Keep the handled signals pending until a SignalCatcher takes them; return the mask
    as it was, for release()."""
    return _signal.pthread_sigmask(_signal.SIG_BLOCK, HANDLED)


def release(mask: set[int]) -> None:
    """Restore the mask hold() returned (a process that detached a supervisor goes on)."""
    _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)


class SignalCatcher:
    """Records the first handled signal and sets `wake` on every one (main thread only)."""

    def __init__(self, wake: threading.Event) -> None:
        self.received: int | None = None
        self._wake = wake
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        _signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        for sig in HANDLED:
            _signal.signal(sig, lambda signum, frame: None)
        import threading

        threading.Thread(target=self._relay, args=(read_end,), daemon=True).start()
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, HANDLED)  # pending ones arrive now, caught

    def _relay(self, read_end: int) -> None:
        while True:
            for signum in os.read(read_end, 64):
                if signum in HANDLED and self.received is None:
                    self.received = signum
                self._wake.set()

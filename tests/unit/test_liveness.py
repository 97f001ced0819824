import os
import subprocess
import sys

import pytest

from metaharness.liveness import hold_lock, lock_is_held, process_start_time, same_process


def test_a_lock_is_held_exactly_while_its_holder_lives(tmp_path):
    lock = tmp_path / "lock"
    assert not lock_is_held(lock)
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys; from metaharness.liveness import hold_lock; hold_lock(sys.argv[1]);"
                               " print('held', flush=True); sys.stdin.read()", str(lock)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert lock_is_held(lock)
        with pytest.raises(BlockingIOError):
            hold_lock(lock)
    finally:
        holder.kill()
        holder.wait()
    assert not lock_is_held(lock)  # the kernel dropped it with the process


def test_a_recycled_pid_does_not_pass_for_the_recorded_process():
    me = os.getpid()
    start = process_start_time(me)
    assert same_process(me, start)
    assert not same_process(me, start + 1)  # same pid number, other start time: a stranger
    assert not same_process(me, None)


def test_process_start_time_of_a_vanished_process_is_none():
    p = subprocess.Popen(["true"])
    p.wait()
    assert process_start_time(p.pid) is None

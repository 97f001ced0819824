"""judge: the verdict on one iteration, from what is known once the agent has gone."""

import pytest

from metaharness.agents import Report
from metaharness.iteration import judge
from metaharness.markers import scan
from metaharness.process import ExitInfo

OK = ExitInfo(0, None)


def _judge(report=None, exit_info=OK, structured=True, cut_short=None, progressed=False, moved=False, text=""):
    return judge(cut_short=cut_short, elapsed=1.25, report=report or Report(saw_result=True, tool_calls=1),
                 exit_info=exit_info, structured=structured, progressed=progressed, moved=moved, found=scan(text))


def test_an_agent_that_exits_0_after_working_succeeded():
    assert (_judge().failed, _judge().summary) == (False, "the agent exited 0")


@pytest.mark.parametrize("kwargs, summary", [
    ({"cut_short": "stop requested"}, "ended by the supervisor (stop requested) after 1.2s"),
    ({"report": Report(is_error=True, error="API 500", saw_result=True)}, "the agent reported an error: API 500"),
    ({"exit_info": ExitInfo(None, 9)}, "the agent failed (killed by SIGKILL)"),
    ({"exit_info": ExitInfo(None, 40)}, "the agent failed (killed by signal 40)"),  # real-time: no name
    ({"exit_info": ExitInfo(3, None)}, "the agent failed (exit 3)"),
    ({"report": Report(tool_calls=1)}, "the agent exited without its final result record"),
])
def test_each_failure_is_named_by_its_first_reason(kwargs, summary):
    verdict = _judge(**kwargs)
    assert (verdict.failed, verdict.summary, verdict.no_progress) == (True, summary, False)


def test_a_structured_agent_that_did_nothing_visible_failed_for_no_progress():
    verdict = _judge(report=Report(saw_result=True))
    assert verdict.failed and verdict.no_progress and verdict.summary.startswith("no progress")


@pytest.mark.parametrize("kwargs", [{"progressed": True}, {"moved": True}, {"text": "<promise>COMPLETE</promise>"},
                                    {"text": "<promise>BLOCKED</promise> no key"}])
def test_progress_a_checked_box_or_a_marker_is_something_done(kwargs):
    assert not _judge(report=Report(saw_result=True), **kwargs).failed


def test_a_plain_text_agent_that_exits_0_succeeded_whatever_it_printed():
    assert not _judge(report=Report(), structured=False).failed

"""The pool's staffing loop, in process: how many workers it starts."""

from metaharness import queue
from metaharness.pool import Pool
from metaharness.spec import Options
from metaharness.start import Request


def test_a_draining_pool_does_not_replace_the_workers_that_leave(tmp_path):
    tree = tmp_path / ".harness"
    tree.mkdir()
    for name in ("a.md", "b.md"):
        (tmp_path / name).write_text("- [ ] t\n")
        queue.add(tree, tmp_path / name, 50, 1)
    said = []
    template = Request("item", "roadmap.md", Options(agent_cmd="echo '<promise>COMPLETE</promise>'"), workdir=str(tmp_path))
    pool = Pool(tree, 3, template, said.append, exit_when_empty=True)
    pool.run(lambda: False)
    assert [i["state"] for i in queue.items(tree)] == ["done", "done"], said
    # Once the queue is drained, a worker leaving is not replaced: each new one would find
    # nothing, leave at once, and be replaced again, spinning until the race was lost.
    assert pool.started == 3

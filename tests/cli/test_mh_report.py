"""mh-report: one self-contained HTML file (and an SVG timeline) built from the tree, and
what a real browser makes of it (headless Chromium; CI installs it, elsewhere it skips)."""

import json
import re
import shutil
import subprocess
import textwrap
import time

import pytest

from conftest import TIMEOUT

COMPLETE = "echo '<promise>COMPLETE</promise>'"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package chromium)")


def _night(project):
    """A small night's work: one that completes after a failed check, one that fails, one
    that waits out a usage limit, one that took a message, and one replaced by a respawn."""
    flaky = f'{COMPLETE}; [ -e "$MH_ROOT/tried" ] && touch "$MH_ROOT/ok"; touch "$MH_ROOT/tried"'
    project.run("spawn", "verified", str(project.roadmap("v.md")), "--agent-cmd", flaky,
                "--verify", 'test -e "$MH_ROOT/ok"', "--backoff", "0")
    project.run("spawn", "broken", str(project.roadmap("b.md")), "--agent-cmd", "echo oops; exit 1",
                "--max-failures", "2", "--backoff", "0")
    limited = (f'if [ "$MH_ITERATION" = 1 ]; then echo \'<limit until="{time.time() + 0.5:.3f}">quota</limit>\'; '
               f'exit 1; fi; {COMPLETE}')
    project.run("spawn", "limited", str(project.roadmap("l.md")), "--agent-cmd", limited, "--account", "x")
    project.spawn("told", 'if [ "$MH_ITERATION" = 1 ]; then while [ ! -e "$MH_ROOT/go" ]; do sleep 0.05; done; '
                  f'exit 0; fi; {COMPLETE}')
    project.wait_for_agent("told")
    project.run("send", "told", "use sqlite")
    (project.root / "go").touch()
    assert project.run("wait", "told", "-t", str(TIMEOUT)).returncode == 0
    project.run("spawn", "verified", str(project.roadmap("v2.md")), "--agent-cmd", COMPLETE)  # archives the first


def test_the_report_shows_every_harness_on_a_timeline_with_outcomes_and_costs(project):
    _night(project)
    r = project.run("report", "-o", "night.html")
    assert (r.returncode, r.stdout, r.stderr) == (0, "night.html\n", "")
    page = (project.root / "night.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 1
    for harness_id in ("verified", "broken", "limited", "told"):
        assert f'data-harness="{harness_id}"' in page
    assert page.count('class="track"') == 4  # the archived instance only when asked for
    # Outcomes: iterations coloured by how they ended, the wait, the message, the checks, the ends.
    assert '<title>broken, iteration 1: the agent failed (exit 1) (failed,' in page
    assert "rate-limited: waiting" in page and 'class="message"' in page
    assert 'class="verify_failed"' not in page  # the replaced instance's check is in the archive
    assert page.count('class="end"') == 4 and "broken: failed at " in page
    assert "2 failed iterations in a row" in page  # the reason, in the table
    assert re.search(r"\b\d{4}-\d\d-\d\d \d\d:\d\d", page)  # the axis carries the date
    _self_contained(page)


def test_archived_instances_and_one_run(project):
    _night(project)
    page = project.run("report", "--archived", "-o", "-").stdout
    assert page.count('class="track"') == 5 and 'class="verify_failed"' in page and "verify_passed" in page
    for road in ("a.md", "b.md"):
        project.roadmap(road)
    (project.root / "plan.yaml").write_text(textwrap.dedent(f"""
        strategy: pipeline
        harnesses:
          - {{id: design, roadmap: a.md, agent_cmd: {json.dumps(COMPLETE)}}}
          - {{id: build, roadmap: b.md, agent_cmd: {json.dumps(COMPLETE)}}}
    """))
    assert project.run("run", "plan.yaml", "--run-id", "nightly").returncode == 0
    page = project.run("report", "--run", "nightly", "-o", "-").stdout
    assert page.count('class="track"') == 2 and "run nightly" in page and "pipeline" in page
    assert 'data-harness="told"' not in page


def test_the_timeline_alone_as_svg(project):
    project.spawn("a", COMPLETE)
    project.run("wait", "a")
    r = project.run("report", "--svg", "t.svg")
    assert r.returncode == 0 and not (project.root / "report.html").exists()
    svg = (project.root / "t.svg").read_text()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and svg.rstrip().endswith("</svg>")
    import xml.dom.minidom

    xml.dom.minidom.parseString(svg)  # well-formed: an SVG viewer opens it


def test_a_day_of_hundreds_of_iterations_stays_on_one_page(project):
    r = project.run("spawn", "busy", str(project.roadmap()), "--agent-cmd", "true", "--max-iterations", "300",
                    "--loop-after", "1000", "--max-failures", "1000")
    assert r.returncode == 3
    page = project.run("report", "-o", "-").stdout
    bars = re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', page)
    assert len(bars) == 300 and all(float(w) >= 1 for _, w in bars)
    assert all(150 <= float(x) <= 150 + 900 for x, _ in bars)  # within the plot, whatever the span


def test_bad_input(project):
    assert project.run("report").returncode == 7  # no tree yet
    project.spawn("a", COMPLETE)
    project.run("wait", "a")
    for args, code, words in ((["--run", "nope"], 7, "no run nope"), (["--run", "../x"], 2, "../x"),
                              (["-o", str(project.root / "no-dir" / "r.html")], 11, "cannot write")):
        r = project.run("report", *args)
        assert r.returncode == code and words in r.stderr and r.stderr.count("\n") == 1, r.stderr


def _self_contained(page):
    """Nothing the page would fetch: no script, stylesheet, image, font or frame, no URL
    but the SVG namespace name (an identifier, never requested)."""
    assert not re.search(r"<(script|link|img|iframe|object|embed|image)\b", page, re.I)
    assert not re.search(r"@import|url\(|\bsrc=|\bhref=", page, re.I)
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= {"http://www.w3.org/2000/svg"}


@needs_chromium
def test_a_real_browser_renders_the_report(project, tmp_path):
    _night(project)
    project.run("report", "-o", "night.html")
    page = project.root / "night.html"
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for harness_id in ("verified", "broken", "limited", "told"):
        assert f'data-harness="{harness_id}"' in dom.stdout
    assert "<svg" in dom.stdout and dom.stdout.count('class="track"') == 4
    shot = tmp_path / "shot.png"
    r = subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000

from metaharness.inbox import Message
from metaharness.prompt import default_template, format_messages, render


def test_render_fills_known_variables_once_and_keeps_unknown_ones():
    out = render("{{A}} {{B}} {{UNKNOWN}}", {"A": "{{B}}", "B": 2})
    assert out == "{{B}} 2 {{UNKNOWN}}"


def test_default_template_names_the_markers_and_every_variable_is_filled():
    values = {k: "x" for k in ("HARNESS_ID", "ITERATION", "MAX_ITERATIONS", "ROADMAP_PATH", "ROADMAP",
                               "PROGRESS", "MESSAGES", "LAST_OUTCOME", "CONTEXT", "ARTIFACTS", "DEPENDENCIES")}
    out = render(default_template(), values)
    assert "{{" not in out
    assert "<promise>COMPLETE</promise>" in out and "mh-send" in out


def test_messages_are_quoted_with_sender_and_time():
    text = format_messages([Message("n1", "bob@host", "2026-01-01T00:00:00.000Z", "use sqlite", "i")])
    assert text == "From bob@host at 2026-01-01T00:00:00.000Z:\nuse sqlite"
    assert format_messages([]) == "(none)"

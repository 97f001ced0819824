from metaharness.markers import scan


def test_finds_completion_progress_and_blocked_reason():
    m = scan("hi\n<progress>did a</progress>\n<progress> did b </progress>\n<promise>COMPLETE</promise>\n")
    assert m.complete and m.progress == ("did a", "did b") and m.blocked_reason is None


def test_blocked_reason_is_the_rest_of_the_line_or_the_next_line():
    assert scan("<promise>BLOCKED</promise> need the API key").blocked_reason == "need the API key"
    assert scan("<promise>BLOCKED</promise>\n\n  no database\n").blocked_reason == "no database"
    assert scan("<promise>BLOCKED</promise>").blocked_reason == "no reason given"


def test_plain_text_has_no_markers():
    m = scan("all good, promise COMPLETE soon")
    assert not m.complete and m.blocked_reason is None and m.progress == ()


def test_markers_mentioned_mid_sentence_do_not_count():
    text = "print `<promise>COMPLETE</promise>` when done, or `<promise>BLOCKED</promise>` with a reason;\n" \
           "print a line `<progress>what you did</progress>`"
    m = scan(text)
    assert not m.complete and m.blocked_reason is None and m.progress == ()
    assert scan("  <promise>COMPLETE</promise>\n").complete

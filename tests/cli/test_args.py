"""The verbs parse plain command lines without argparse (metaharness/cli/args.py); wherever
that fast path answers, it must answer exactly as argparse does. Checked here on every
verb's parser, over command lines made from what each parser declares."""

import contextlib
import importlib
import io
import random

import pytest

from metaharness.cli import VERBS, args
from metaharness.cli import pool as pool_cli

VALUES = ["5", "1s", "0", "-1", "-", "x", "", "a,b", "10m", "2.5", "claude", "cmd", "bwrap", "off", "stop",
          "skip", "json", "--", "h1", "~1", "1e9"]
WORDS = ["a", "b", "3", "r.md", "-", "hi there", "--", "-x", "-1", "h1", "x=y"]


def parsers():
    """Every verb's parser, but those with subcommands: argparse parses all their lines."""
    for verb in VERBS:
        module = importlib.import_module(f"metaharness.cli.{verb}")
        if hasattr(module, "build_parser") and module.build_parser()._real is None:
            yield verb, module.build_parser
    for name in ("scale_parser", "ls_parser", "stop_parser", "launch_parser"):
        yield f"pool {name}", getattr(pool_cli, name)


def argparse_answer(build, argv):
    """What argparse makes of argv: vars of its namespace, or None if it refuses."""
    real = build().real()
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            return vars(real.parse_args(argv))
    except SystemExit:
        return None


def command_lines(parser, rng, count):
    """Random lines from the parser's own options, with good, bad and tricky values."""
    options = [a for a in parser._arguments if not a.positional]
    for _ in range(count):
        line = []
        for _ in range(rng.randint(0, 4)):
            if rng.random() < 0.5 or not options:
                line.append(rng.choice(WORDS))
                continue
            option = rng.choice(options)
            name = rng.choice(option.names)
            if option.action in ("store_true", "store_false", "version") or rng.random() < 0.05:
                line.append(name)
            else:
                choices = list(option.options.get("choices") or ())
                value = rng.choice(VALUES + choices * 3)
                line += [f"{name}={value}"] if rng.random() < 0.2 else [name, value]
        yield line


@pytest.mark.parametrize("verb,build", list(parsers()), ids=lambda v: v if isinstance(v, str) else "")
def test_the_fast_path_agrees_with_argparse_wherever_it_answers(verb, build):
    parser = build()
    rng = random.Random(verb)
    answered = agreed_by_argparse = 0
    for argv in command_lines(parser, rng, 600):
        fast = build().parse_plain(list(argv))
        real = argparse_answer(build, argv)
        if real is not None:
            agreed_by_argparse += 1
        if fast is None:
            continue
        answered += 1
        assert real is not None, f"{verb} {argv}: argparse refuses it, the fast path did not"
        assert vars(fast) == real, f"{verb} {argv}"
    # The fast path is not a path that never answers: it takes a fair share of good lines.
    assert answered >= agreed_by_argparse // 4, (verb, answered, agreed_by_argparse)


@pytest.mark.parametrize("verb,argv", [
    ("send", ["y", "hi"]), ("send", ["y", "hello", "world", "--from", "me"]), ("wait", ["h1"]),
    ("wait", ["a", "b", "--timeout", "5"]), ("wait", ["--all", "--json"]), ("status", []),
    ("status", ["--json"]), ("stop", ["a"]),
    ("spawn", ["fg", "r.md", "-q", "--agent-cmd", "echo done"]),
    ("spawn", ["d1", "r.md", "-q", "--detach", "--agent-cmd", "true", "--after", "a,b", "--after", "c"]),
])
def test_the_command_lines_of_users_loops_take_the_fast_path(verb, argv):
    build = importlib.import_module(f"metaharness.cli.{verb}").build_parser
    fast = build().parse_plain(argv)
    assert fast is not None
    assert vars(fast) == argparse_answer(build, argv)


def test_a_line_argparse_must_read_goes_to_argparse_and_reads_as_before(capsys):
    build = importlib.import_module("metaharness.cli.wait").build_parser
    assert build().parse_plain(["--tim", "5", "a"]) is None  # an abbreviation
    assert vars(build().parse_args(["--tim", "5", "a"]))["timeout"] == 5.0
    with pytest.raises(SystemExit) as e:
        build().parse_args(["a", "--timeout", "soon"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mh-wait: error: argument -t/--timeout") and "--help" in err


def test_errors_a_verb_raises_itself_are_one_line_with_the_usage_status(capsys):
    parser = args.parser("send", "d")
    with pytest.raises(SystemExit) as e:
        parser.error("no message\ngiven")
    assert e.value.code == 2
    assert capsys.readouterr().err == "mh-send: error: no message\\ngiven (see mh-send --help)\n"

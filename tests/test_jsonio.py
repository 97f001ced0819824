"""metaharness.jsonio reads and writes exactly as json does, without importing it."""

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaharness import jsonio

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(values, st.booleans(), st.booleans())
def test_dumps_is_json_dumps(value, sort_keys, ensure_ascii):
    assert jsonio.dumps(value, sort_keys=sort_keys, ensure_ascii=ensure_ascii) == \
        json.dumps(value, sort_keys=sort_keys, ensure_ascii=ensure_ascii)


@given(values, st.sampled_from(["", " ", "\n", " \t\r\n "]), st.booleans())
def test_loads_is_json_loads(value, space, as_bytes):
    text = space + json.dumps(value, indent=1 if len(space) > 1 else None, ensure_ascii=not space) + space
    data = text.encode("utf-8") if as_bytes else text
    assert jsonio.loads(data) == json.loads(data)


@pytest.mark.parametrize("data", [
    "", " ", "{", '{"a": 1} x', '{"a": 1}{}', "[1,]", "\ufeff{}", b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", "nul",
    b"\x80", '{"a": "\\ud800"}', "NaN", "-Infinity", '"\x01"', "1e400", "01",
])
def test_an_odd_or_broken_document_reads_or_fails_as_json_says(data):
    try:
        expected = json.loads(data)
    except ValueError as e:
        with pytest.raises(type(e)) as got:
            jsonio.loads(data)
        assert str(got.value) == str(e)
    else:
        got = jsonio.loads(data)
        assert got == expected or (math.isnan(got) and math.isnan(expected))


def test_a_value_json_cannot_write_is_refused_as_json_refuses_it():
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonio.dumps({"a": object()})
    with pytest.raises(ValueError, match="Circular"):
        loop = []
        loop.append(loop)
        jsonio.dumps(loop)


def test_it_does_not_import_json_or_re():
    probe = "import sys, metaharness.jsonio as j; j.loads(b'{\"a\": [1, 2.5]}'); j.dumps({'a': 1}); " \
            "print(' '.join(m for m in ('json', 're') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == ""


@pytest.mark.parametrize("data", ['{"a": ', "[1, 2", '{"a" 1}', "tru", '"\x01"'])
def test_a_broken_document_raises_json_s_error_in_a_process_that_never_imported_json(data):
    probe = f"import metaharness.jsonio as j\ntry:\n    j.loads({data!r})\nexcept ValueError as e:\n    print(e)"
    got = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    with pytest.raises(ValueError) as expected:
        json.loads(data)
    assert (got.returncode, got.stdout.strip(), got.stderr) == (0, str(expected.value), "")

"""The byte tests that rule files out, written for speed, say what the plain regular expressions
they replace say: `has_word` (`Sources.spelling_word`, the start-up lookups) and `ChangeTest`
(whether a file may change a module-level object)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codemod.analysis.hostadmin import ADMIN
from codemod.analysis.memory import ChangeTest
from codemod.model.nodes import MUTATORS
from codemod.model.sources import Sources, has_word

# Few distinct bytes, so that needles, boundaries and near misses meet often.
BYTES = st.binary(max_size=40).map(lambda b: bytes(b"ab_.( \n9"[x % 8] for x in b))


def regex_says(data: bytes, needle: bytes) -> bool:
    return re.search(rb"\b" + re.escape(needle) + rb"\b", data) is not None


@settings(max_examples=2000, derandomize=True)
@given(data=BYTES, needle=BYTES)
def test_it_agrees_with_the_regular_expression(data: bytes, needle: bytes) -> None:
    assert has_word(data, needle) == regex_says(data, needle)


def test_words_at_the_edges_and_inside_others() -> None:
    assert has_word(b"job", b"job")
    assert has_word(b"x = job()\n", b"job")
    assert not has_word(b"x = jobs()\n", b"job")
    assert not has_word(b"x = my_job()\n", b"job")
    assert has_word(b"my_job job2 job", b"job")  # the third occurrence
    assert has_word(b"a.job", b"job")
    assert not has_word(b"", b"job")


def test_sources_finds_the_files_that_spell_a_whole_word(tmp_path: Path) -> None:
    names = {"a.py": "run_job()\n", "b.py": "job()\n", "c.py": "import x\n"}
    files = []
    for name, text in names.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        files.append((tmp_path / name, name))
    sources = Sources(files)
    assert sources.spelling("job") == ["a.py", "b.py"]
    assert sources.spelling_word("job") == ["b.py"]


def whole_file_pattern(name: str, methods: frozenset[str]) -> re.Pattern[bytes]:
    """The one pattern searched over the whole file before (memory.py until 2026-12-03)."""
    word = re.escape(name.encode())
    calls = b"|".join(re.escape(m.encode()) for m in sorted(methods))
    path = rb"(?:\s*\.\s*\w+|\s*\[[^\]\n]*\])*"
    return re.compile(
        rb"\b"
        + word
        + path
        + rb"\s*(?:(?://|<<|>>|\*\*|[-+*/%|&^@])?=(?!=)|\.\s*(?:"
        + calls
        + rb")\s*\()|\bdel\b[^\n]*\b"
        + word
        + rb"\b|\bglobal\b[^\n]*\b"
        + word
        + rb"\b"
    )


TOKENS = st.sampled_from(
    [
        b"jobs",
        b"xjobs",
        b"jobs_",
        b"del ",
        b"global ",
        b"=",
        b"==",
        b"+=",
        b".",
        b"[k]",
        b"[",
        b"]",
        b" ",
        b"\n",
        b"append",
        b"(",
        b"x",
        b",",
        b"set",
        b"\t",
        b"//=",
    ]
)


@settings(max_examples=3000, derandomize=True)
@given(parts=st.lists(TOKENS, max_size=16))
def test_the_change_test_agrees_with_the_whole_file_pattern(parts: list[bytes]) -> None:
    data = b"".join(parts)
    methods = MUTATORS | {"set"}
    expected = whole_file_pattern("jobs", methods).search(data) is not None
    assert ChangeTest("jobs", methods).may_change(data) == expected, data


def test_the_forms_of_a_change() -> None:
    test = ChangeTest("jobs", MUTATORS)
    assert test.may_change(b"def f():\n    jobs[key] = 1\n")
    assert test.may_change(b"jobs.a.b += 1")
    assert test.may_change(b"jobs .items\n    .append(x)")
    assert test.may_change(b"x = 1; del y, jobs[k]")
    assert test.may_change(b"def f():\n    global x, jobs\n")
    assert not test.may_change(b"print(jobs[k])\nif jobs == 2: pass\n")
    assert not test.may_change(b"del x\nfor job in jobs: pass\nmyjobs = 1\n")


@pytest.mark.parametrize(
    ("text", "admin"),
    [
        (b'subprocess.run("sudo systemctl restart app", shell=True)', True),
        (b'subprocess.check_output([sys.executable, "-m", "pip", "install", "-U", "x"])', True),
        (b"os.system('pip3 install x')", True),
        (b'subprocess.run(["apt", "install", "-y", "x"])', True),
        (b'subprocess.run(["pip", "list"])', False),
        (b'subprocess.run(["pipeline", "install"])', False),
        (b'subprocess.run(["ffmpeg", "-i", path])', False),
    ],
)
def test_host_administration_in_a_command_string_or_list(text: bytes, admin: bool) -> None:
    assert (ADMIN.search(text) is not None) == admin


def test_an_instance_is_changed_through_its_attributes_not_by_rebinding_the_name() -> None:
    test = ChangeTest("settings", frozenset({"update"}), attributes=True)
    assert not test.may_change(b"def f():\n    settings = load()\n    settings += 1\n")
    assert test.may_change(b"settings.debug = True\n")
    assert test.may_change(b"settings['x'] = 1\n")
    assert test.may_change(b"settings.update(x)\n")
    assert ChangeTest("settings", frozenset()).may_change(b"settings = load()\n")

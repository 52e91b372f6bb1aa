"""Which enum classes travel as their `.value` (enums.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from codemod.analysis.enums import enum_value_type
from codemod.model.program import Program
from codemod.model.resolve import Resolver

ENUMS = """
import enum

class Text(str, enum.Enum):
    A = "a"

class Number(enum.IntEnum):
    A = 1

class Auto(enum.StrEnum):
    A = enum.auto()

class Counted(enum.Enum):
    A = enum.auto()
    _ignored = "private names are no members"

class Ratio(enum.Enum):
    HALF = 0.5

class Base(str, enum.Enum):
    pass

class Derived(Base):
    A = "a"

class Mixed(enum.Enum):
    A = 1
    B = "b"

class Truth(enum.Enum):
    YES = True

class Pair(enum.Enum):
    A = (1, 2)

class Bits(enum.Flag):
    A = 1

class NotAnEnum:
    A = "a"
"""


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Text", "str"),
        ("Number", "int"),
        ("Auto", "str"),
        ("Counted", "int"),
        ("Ratio", "float"),
        ("Derived", "str"),
        ("Mixed", None),
        ("Truth", None),
        ("Pair", None),
        ("Bits", None),
        ("NotAnEnum", None),
    ],
)
def test_enum_value_types(tmp_path: Path, name: str, expected: str | None) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "kinds.py").write_text(textwrap.dedent(ENUMS), encoding="utf-8")
    (tmp_path / "app" / "jobs.py").write_text("from app.kinds import *\n", encoding="utf-8")
    resolver = Resolver(Program(tmp_path))
    summary = resolver.program.module("app.kinds")
    assert summary is not None
    found = enum_value_type(name, summary, resolver)
    assert (found[1] if found else None) == expected
    if found:
        assert found[0] == f"app.kinds.{name}"

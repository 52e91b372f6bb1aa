"""Registering the tasks modules: in the Celery app module, or the tasks package's __init__."""

from __future__ import annotations

import ast

import libcst as cst

from codemod.emit.generate import format_code, header_end_line
from codemod.model.index import ModuleInfo
from codemod.models import CeleryApp


class _AppendRegistration(cst.CSTTransformer):
    """Add module names to the first `include=` / `imports=` list (or tuple) of the app module."""

    def __init__(self, key: str, modules: list[str], app_attr: str) -> None:
        self.key = key
        self.modules = modules
        self.app_attr = app_attr
        self.done = False

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        if self.done or updated.keyword is None or updated.keyword.value != self.key:
            return updated
        if isinstance(updated.value, cst.List | cst.Tuple):
            self.done = True
            return updated.with_changes(value=_append(updated.value, self.modules))
        return updated

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        target = updated.targets[0].target if len(updated.targets) == 1 else None
        if self.done or not isinstance(target, cst.Attribute) or target.attr.value != self.key:
            return updated
        if isinstance(updated.value, cst.List | cst.Tuple):
            self.done = True
            return updated.with_changes(value=_append(updated.value, self.modules))
        return updated


class _AddInclude(cst.CSTTransformer):
    """Add `include=[...]` to the `app = Celery(...)` call."""

    def __init__(self, modules: list[str], app_attr: str) -> None:
        self.modules = modules
        self.app_attr = app_attr
        self.done = False

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        target = updated.targets[0].target if len(updated.targets) == 1 else None
        call = updated.value
        if self.done or not isinstance(target, cst.Name) or target.value != self.app_attr:
            return updated
        if not isinstance(call, cst.Call):
            return updated
        self.done = True
        items = ", ".join(f'"{m}"' for m in self.modules)
        arg = cst.Arg(
            keyword=cst.Name("include"),
            value=cst.parse_expression(f"[{items}]"),
            equal=cst.AssignEqual(
                whitespace_before=cst.SimpleWhitespace(""),
                whitespace_after=cst.SimpleWhitespace(""),
            ),
        )
        args = list(call.args)
        if args and args[-1].comma is cst.MaybeSentinel.DEFAULT:
            args[-1] = args[-1].with_changes(
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            )
        elif args:
            arg = arg.with_changes(comma=args[-1].comma)
        return updated.with_changes(value=call.with_changes(args=[*args, arg]))


def _append(seq: cst.List | cst.Tuple, modules: list[str]) -> cst.List | cst.Tuple:
    elements = list(seq.elements)
    quote = (
        "'"
        if any(
            isinstance(e.value, cst.SimpleString) and e.value.value.startswith("'")
            for e in elements
        )
        else '"'
    )
    values = [cst.SimpleString(f"{quote}{m}{quote}") for m in modules]
    space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    if not elements:
        new = [cst.Element(v, comma=space) for v in values]
        new[-1] = new[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        if isinstance(seq, cst.Tuple) and len(new) == 1:
            new[-1] = new[-1].with_changes(comma=cst.Comma())
        return seq.with_changes(elements=new)
    last = elements[-1]
    space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    separator = elements[-2].comma if len(elements) > 1 else space
    if not isinstance(separator, cst.Comma):
        separator = space
    trailing = last.comma if isinstance(last.comma, cst.Comma) else cst.MaybeSentinel.DEFAULT
    if len(elements) == 1 and isinstance(seq, cst.Tuple) and not _multiline(last.comma):
        trailing = cst.MaybeSentinel.DEFAULT  # ("a",) becomes ("a", "b")
    elements[-1] = last.with_changes(comma=separator)
    elements += [cst.Element(v, comma=separator) for v in values]
    elements[-1] = elements[-1].with_changes(comma=trailing)
    return seq.with_changes(elements=elements)


def _multiline(comma: cst.Comma | cst.MaybeSentinel) -> bool:
    return isinstance(comma, cst.Comma) and isinstance(
        comma.whitespace_after, cst.ParenthesizedWhitespace
    )


def register_in_app(
    source: str, app: CeleryApp, style: str, modules: list[str], line_length: int = 88
) -> str | None:
    """The app module with the tasks modules registered; None if the edit found no place.

    The one statement the edit changes is re-wrapped by black if it grew past the line length;
    every other statement stays byte for byte."""
    tree = cst.parse_module(source)
    transformer: _AppendRegistration | _AddInclude
    if style in ("include", "imports"):
        transformer = _AppendRegistration(style, modules, app.attr)
    else:
        transformer = _AddInclude(modules, app.attr)
    new = tree.visit(transformer)
    if not transformer.done:
        return None
    body = list(new.body)
    for i, (before, after) in enumerate(zip(tree.body, new.body, strict=True)):
        if before is after or before.deep_equals(after):
            continue
        bare = after.with_changes(leading_lines=[])
        code = new.code_for_node(bare)
        if max(len(line) for line in code.splitlines()) > line_length:
            wrapped = cst.parse_module(format_code(code, line_length)).body
            if len(wrapped) == 1:
                body[i] = wrapped[0].with_changes(leading_lines=after.leading_lines)
    return new.with_changes(body=body).code


def register_in_init(source: str, info: ModuleInfo, package: str, modules: list[str]) -> str:
    """The tasks package's __init__ with one more import per tasks module, in the form it uses."""
    newline = "\r\n" if "\r\n" in source else "\n"
    relative = any(isinstance(s, ast.ImportFrom) and s.level == 1 for s in info.tree.body)
    plain = any(isinstance(s, ast.Import) for s in info.tree.body)
    lines = []
    for module in modules:
        name = module.rpartition(".")[2]
        if relative:
            lines.append(f"from . import {name}")
        elif plain:
            lines.append(f"import {module}")
        else:
            lines.append(f"from {package} import {name}")
    at = header_end_line(info.tree)
    out = source.splitlines(keepends=True)
    if out and not out[-1].endswith(("\n", "\r")):
        out[-1] += newline
    out.insert(at, "".join(line + "  # noqa: F401" + newline for line in lines))
    return "".join(out)

"""The job's arguments in a call site's statement, and as the task is sent them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import libcst as cst

from codemod.emit.cst_text import _code, _walk
from codemod.models import FIELDS_SET_OF, Site


def _job_args(statement: cst.BaseStatement, site: Site) -> Sequence[cst.Arg]:
    """The arguments the job is called with, where its form has them (model/sites.JOB_FORMS):
    those of the coroutine call that create_task is given, those that follow the function in
    `add_task(fn, ...)`, the elements of a thread's `args=` and the items of its `kwargs=`."""
    call = starter_call(statement, site)
    form = site.job_form
    args = call.args
    if form == "call":
        inner = args[0].value
        assert isinstance(inner, cst.Call)
        return inner.args
    if form == "to_thread":
        inner = args[0].value
        assert isinstance(inner, cst.Call)
        return inner.args[1:]
    if form in ("fn", "executor"):
        return args[2:] if form == "executor" else args[1:]
    if form in ("fn_partial", "executor_partial"):
        skip = 1 if form == "executor_partial" else 0
        partial = args[skip].value
        assert isinstance(partial, cst.Call)
        given = [*partial.args[1:], *args[skip + 1 :]]
        positional = [a for a in given if a.keyword is None]
        return _commas([*positional, *(a for a in given if a.keyword is not None)])
    return _thread_args(call, form == "thread_run")


def starter_call(statement: cst.BaseStatement, site: Site) -> cst.Call:
    """The call that starts the job (`asyncio.create_task(...)`, `Thread(...)`), found by its
    text in the statement; the first call of a starter's last name where none spells it so."""
    wanted = "".join(site.starter.split())
    last = wanted.rpartition(".")[2]
    fallback: cst.Call | None = None
    for node in _walk(statement):
        if not isinstance(node, cst.Call):
            continue
        spelled = "".join(_code(node.func).split())
        if spelled == wanted:
            return node
        name = spelled.rpartition(".")[2]
        if fallback is None and name == last:
            fallback = node
    if fallback is None:
        raise ValueError("no background call in the statement")
    return fallback


def _thread_args(call: cst.Call, run: bool) -> Sequence[cst.Arg]:
    """`Thread(target=job, args=(a, b), kwargs={"k": v})`: `a, b, k=v`; with `run`
    (`target=asyncio.run, args=(job(a),)`), the arguments of the coroutine call."""
    given = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    elements = given.get("args")
    out: list[cst.Arg] = []
    if isinstance(elements, cst.Tuple | cst.List):
        for element in elements.elements:
            out.append(cst.Arg(element.value, comma=element.comma))
    if run:
        inner = out[0].value
        assert isinstance(inner, cst.Call)
        return inner.args
    items = given.get("kwargs")
    if isinstance(items, cst.Dict):
        for item in items.elements:
            assert isinstance(item, cst.DictElement) and isinstance(item.key, cst.SimpleString)
            key = cst.Name(str(item.key.evaluated_value))
            out.append(cst.Arg(item.value, keyword=key, equal=_EQUAL, comma=item.comma))
    elif isinstance(items, cst.Call):  # kwargs=dict(k=v)
        out.extend(items.args)
    return _commas(out)


def _commas(args: list[cst.Arg]) -> list[cst.Arg]:
    """Arguments gathered from several places, each followed by a comma but the last."""
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    out = [
        a if a.comma is not cst.MaybeSentinel.DEFAULT else a.with_changes(comma=comma) for a in args
    ]
    if out:
        out[-1] = out[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return out


def _sent(args: Sequence[cst.Arg], site: Site) -> Sequence[cst.Arg]:
    """The job's arguments as the task is sent them: models dumped, enum members as values,
    without the dependencies the worker re-creates, and the set fields of the models whose job
    reads them, by keyword."""
    companions = _fields_set_args(args, site.fields_set_args)
    args = _enum_values(_dump_models(args, site.model_args), site.enum_args)
    args = _each(args, site.path_args, lambda value: cst.Call(cst.Name("str"), [cst.Arg(value)]))
    kept = [
        arg
        for i, arg in enumerate(args)
        if (arg.keyword.value if arg.keyword else i) not in site.injected
    ]
    if not site.injected and not companions:
        return args
    return _commas([*kept, *companions])


def _fields_set_args(
    args: Sequence[cst.Arg], fields_set: tuple[tuple[int | str, str], ...]
) -> list[cst.Arg]:
    """`x_fields_set=fields_set_of(x)` for each model argument whose set fields travel."""
    out: list[cst.Arg] = []
    for key, name in fields_set:
        for i, arg in enumerate(args):
            if (arg.keyword.value if arg.keyword else i) == key:
                call = cst.Call(func=cst.Name(FIELDS_SET_OF), args=[cst.Arg(arg.value)])
                out.append(cst.Arg(call, keyword=cst.Name(name), equal=_EQUAL))
    return out


def _enum_values(args: Sequence[cst.Arg], enums: tuple[int | str, ...]) -> Sequence[cst.Arg]:
    """Arguments that pass an enum member send its value: `x.value`."""
    return _each(args, enums, lambda value: cst.Attribute(value=value, attr=cst.Name("value")))


_EQUAL = cst.AssignEqual(
    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
)


def _dump_models(args: Sequence[cst.Arg], models: tuple[int | str, ...]) -> Sequence[cst.Arg]:
    """Arguments that pass a Pydantic model send its JSON form: `x.model_dump(mode="json")`."""
    mode = cst.Arg(keyword=cst.Name("mode"), value=cst.SimpleString('"json"'), equal=_EQUAL)
    return _each(
        args,
        models,
        lambda value: cst.Call(
            func=cst.Attribute(value=value, attr=cst.Name("model_dump")), args=[mode]
        ),
    )


def _each(
    args: Sequence[cst.Arg],
    keys: tuple[int | str, ...],
    make: Callable[[cst.BaseExpression], cst.BaseExpression],
) -> Sequence[cst.Arg]:
    """The arguments, those at `keys` (positions or keyword names) replaced by `make(value)`, the
    value parenthesised where an attribute of it would need it."""
    if not keys:
        return args
    out = []
    for i, arg in enumerate(args):
        key: int | str = arg.keyword.value if arg.keyword else i
        if key in keys:
            value = arg.value
            if not isinstance(value, cst.Name | cst.Attribute | cst.Call | cst.Subscript):
                value = value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
            arg = arg.with_changes(value=make(value))
        out.append(arg)
    return out

"""A site's task object: whether it is dropped, only guarded, kept or waited on, and its name."""

from __future__ import annotations

import ast
from collections.abc import Callable

from codemod.model.detect import Candidate, lookup, parent_map
from codemod.model.index import ModuleInfo
from codemod.model.syntax import last_name, scope_bindings, walk_lines, word_lines
from codemod.models import ADD_TASK, BACKGROUND_TASK, SUBMIT, THREAD

WAITERS = frozenset(
    f"asyncio.{n}" for n in ("gather", "wait", "wait_for", "shield", "as_completed", "timeout")
)
WAIT_ATTRS = frozenset(
    {"cancel", "result", "exception", "done", "cancelled", "remove_done_callback", "get_coro"}
)
GUARD_ATTRS = frozenset({"add_done_callback", "set_name", "get_name"})
STORE_METHODS = frozenset({"add", "append", "appendleft", "extend", "insert", "put_nowait"})
THREAD_ATTRS = frozenset({"start", "setDaemon", "setName"})  # what a started thread may get
THREAD_FIELDS = frozenset({"daemon", "name"})  # and what may be set on it before its start
# Responses whose background task runs when the body has been streamed: cleanup, not a job.
STREAMING = frozenset({"StreamingResponse", "FileResponse", "EventSourceResponse"})


class _Stop(Exception):
    """What the task handle shows, found deep in the walk: ("stored" | "ignored", why)."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind
        self.why = why


class TaskHandle:
    """The task handle's part of `sites._Site`, a mixin: `_Site` gives it the candidate, the
    module and `_qualify`; its methods raise `_Stop` to tell what the handle shows."""

    candidate: Candidate
    info: ModuleInfo
    _qualify: Callable[[ast.expr], str | None]

    def _handle_group_end(self) -> int:
        """The last line the fallback keeps; raises _Stop unless the task object is dropped or
        only guarded."""
        candidate = self.candidate
        call, stmt = candidate.call, candidate.statement
        parent = candidate.parents[-1]
        end = stmt.end_lineno or stmt.lineno
        if candidate.kind == BACKGROUND_TASK:
            return self._response_task_end(end)
        if candidate.kind == ADD_TASK:
            self._not_streamed_tasks()
        if candidate.kind == SUBMIT:
            receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
            if receiver is not None and self._executor(receiver) == "with":
                raise _Stop("ignored", "the executor's `with` block waits for the job at its end")
        if candidate.kind == THREAD and isinstance(parent, ast.Attribute):
            started = candidate.parents[-2]
            if parent.attr != "start" or not isinstance(started, ast.Call):
                raise _Stop("ignored", f"the thread is not started here (`.{parent.attr}`)")
            if isinstance(candidate.parents[-3], ast.Expr):
                return end
            raise _Stop("ignored", "the call is part of a larger expression")
        if isinstance(parent, ast.Expr):
            if candidate.kind == THREAD:
                raise _Stop("ignored", "the thread is not started")
            return end
        if isinstance(parent, ast.Assign | ast.AnnAssign) and parent.value is call:
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                return self._guarded_group_end(targets[0].id)
            raise _Stop("stored", "the task object is assigned to an attribute or an item")
        if (
            isinstance(parent, ast.Call)
            and isinstance(parent.func, ast.Attribute)
            and parent.func.attr in STORE_METHODS
            and call in parent.args
        ):
            statement_level = isinstance(candidate.parents[-2], ast.Expr)
            if (
                parent.func.attr == "add"
                and statement_level
                and _is_guard_set(parent.func.value, self.info)
            ):
                return end
            holder = parent.func.value
            if isinstance(holder, ast.Name) and self._waited(holder.id):
                raise _Stop("ignored", f"the tasks in `{holder.id}` are awaited together")
            raise _Stop("stored", "the task object is kept in a collection")
        raise _Stop("ignored", "the call is part of a larger expression")

    def _guarded_group_end(self, name: str) -> int:
        candidate = self.candidate
        scope_node, parents, names = self._spellings(name)
        stmt = candidate.statement
        # the other bindings of the name (the other arm of an `if` binding it to another
        # thread): a use further on in such a binding's block is of that binding
        others = [
            bound
            for node in names
            if isinstance(node.ctx, ast.Store)
            and (bound := _assignment_of(node, parents)) is not None
            and bound is not candidate.statement
        ]
        positions: dict[int, tuple[list[ast.stmt], dict[int, int]]] = {}
        uses = [
            (use, self._use_kind(use, parents))
            for use in names
            if not isinstance(use.ctx, ast.Store)
            and not _after_rebinding(use, others, stmt, scope_node, parents, positions)
        ]
        # A wait anywhere decides it, wherever it is: the job is not fire-and-forget.
        if any(kind == "wait" for _, kind in uses):
            raise _Stop("ignored", f"the task object `{name}` is awaited, gathered or cancelled")
        if any(kind == "stored" for _, kind in uses):
            raise _Stop("stored", f"the task object `{name}` is kept or passed on")
        if self.candidate.kind == THREAD and not any(kind == "start" for _, kind in uses):
            raise _Stop("ignored", f"the thread `{name}` is not started here")
        guard_lines = [_statement_of(use, parents) for use, _ in uses]
        block = _block_of(stmt, parents)
        position = block.index(stmt)
        group = [stmt]
        for follower in block[position + 1 :]:
            if follower not in guard_lines:
                break
            group.append(follower)
        if any(g not in group for g in guard_lines):
            raise _Stop("stored", f"the task object `{name}` is used further on")
        return group[-1].end_lineno or group[-1].lineno

    def _waited(self, name: str) -> bool:
        """Whether the site's scope waits on the collection `name` holds its tasks in
        (`await asyncio.wait(tasks)`, `asyncio.gather(*tasks)`, `await tasks[0]`)."""
        _, parents, names = self._spellings(name)
        return any(
            isinstance(use.ctx, ast.Load) and self._use_kind(use, parents) == "wait"
            for use in names
        )

    def _spellings(self, name: str) -> tuple[ast.AST, dict[int, ast.AST], list[ast.Name]]:
        """The site's scope, the parents of what spells `name` there, and the names `name`
        in it that are the scope's own variable (not a nested function's of the same name).
        Only the lines that spell the name are walked: its uses, their parents, the site."""
        scope_node = self.candidate.scopes[0].node
        lines = word_lines(self.info.source, [name])
        parents = parent_map(scope_node, lines)
        names = [
            node
            for node, _ in walk_lines(scope_node, lines)
            if isinstance(node, ast.Name)
            and node.id == name
            and not _rebound_inside(node, name, scope_node, parents)
        ]
        return scope_node, parents, names

    def _use_kind(self, use: ast.Name, parents: dict[int, ast.AST]) -> str:
        parent = parents.get(id(use))
        if isinstance(parent, ast.Await | ast.Return | ast.Yield | ast.YieldFrom):
            return "wait"
        if self.candidate.kind == THREAD and isinstance(parent, ast.Attribute):
            return _thread_use(parent, parents)
        if isinstance(parent, ast.Attribute):
            if parent.attr in WAIT_ATTRS:
                return "wait"
            if parent.attr in GUARD_ATTRS and isinstance(parents.get(id(parent)), ast.Call):
                return "guard" if isinstance(_statement_of(parent, parents), ast.Expr) else "stored"
            return "stored"
        node: ast.AST = use
        while isinstance(parent, ast.List | ast.Tuple | ast.Set | ast.Starred):
            node, parent = parent, parents.get(id(parent))
        if isinstance(parent, ast.Call) and node is not parent.func:
            if self._qualify(parent.func) in WAITERS:
                return "wait"
            func = parent.func
            if isinstance(func, ast.Attribute) and func.attr == "add" and node is use:
                return "guard" if _is_guard_set(func.value, self.info) else "stored"
        return "stored"

    def _imported_executor(self) -> str | None:
        func = self.candidate.call.func
        if self.candidate.kind != SUBMIT or not isinstance(func, ast.Attribute):
            return None
        if self._executor(func.value) != "import":
            return None
        return self._qualify(func.value)

    def _executor(self, receiver: ast.expr) -> str | None:
        from codemod.model.detect import executor_of

        return executor_of(receiver, self.candidate.scopes, self.info)

    def _response_task_end(self, end: int) -> int:
        """A `BackgroundTask` runs after the response it is given to (as `background=`, or
        assigned to a response's `background`), unless that response streams: then it runs when
        the stream ends, as its cleanup. A name it is bound to must reach a response so."""
        candidate = self.candidate
        parent = candidate.parents[-1]
        if isinstance(parent, ast.keyword) and parent.arg == "background":
            _not_streamed(candidate.parents[-2])
            return end
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
            target = parent.targets[0]
            if isinstance(target, ast.Attribute) and target.attr == "background":
                return end
            if isinstance(target, ast.Name):
                return self._response_task_name(target.id, end)
        raise _Stop("ignored", "the BackgroundTask is not given to a response")

    def _not_streamed_tasks(self) -> None:
        """A `BackgroundTasks()` made here and given to a streaming response: its tasks are the
        response's cleanup (raises _Stop)."""
        func = self.candidate.call.func
        receiver = func.value if isinstance(func, ast.Attribute) else None
        if not isinstance(receiver, ast.Name):
            return
        found = lookup(receiver.id, self.candidate.scopes)
        if found is None or found[1].kind != "assign":
            return
        scope_node = found[0].node
        lines = word_lines(self.info.source, [receiver.id])
        parents = parent_map(scope_node, lines)
        for use, _ in walk_lines(scope_node, lines):
            if isinstance(use, ast.Name) and use.id == receiver.id:
                parent = parents.get(id(use))
                if isinstance(parent, ast.keyword) and parent.arg == "background":
                    _not_streamed(parents.get(id(parent)))

    def _response_task_name(self, name: str, end: int) -> int:
        scope_node = self.candidate.scopes[0].node
        lines = word_lines(self.info.source, [name])
        parents = parent_map(scope_node, lines)
        given = False
        for use, _ in walk_lines(scope_node, lines):
            if not (isinstance(use, ast.Name) and use.id == name):
                continue
            if isinstance(use.ctx, ast.Store):
                continue
            parent = parents.get(id(use))
            if isinstance(parent, ast.keyword) and parent.arg == "background":
                _not_streamed(parents.get(id(parent)))
                given = True
            elif isinstance(parent, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "background" for t in parent.targets
            ):
                given = True
            elif isinstance(parent, ast.Call | ast.Await) and getattr(parent, "func", None) is use:
                raise _Stop("ignored", f"the BackgroundTask `{name}` is run here")
            else:
                raise _Stop("stored", f"the BackgroundTask `{name}` is kept or passed on")
        if not given:
            raise _Stop("ignored", f"the BackgroundTask `{name}` is not given to a response")
        return end

    def _free_name(self, first: int, handle: tuple[str, int | str]) -> str:
        """`task`, unless the function uses that name outside the statements the site replaces.
        Every name it may choose spells `task`: only the lines that do are looked at."""
        last = handle[1] if handle[0] == "end" and isinstance(handle[1], int) else None
        if last is None:
            stmt = self.candidate.statement
            last = stmt.end_lineno or stmt.lineno
        scope = self.candidate.scopes[0].node
        used = {
            node.id if isinstance(node, ast.Name) else node.arg
            for node, _ in walk_lines(scope, word_lines(self.info.source, ["task"]))
            if isinstance(node, ast.Name | ast.arg) and not first <= node.lineno <= last
        }
        for name in ("task", "celery_task", "queued_task"):
            if name not in used:
                return name
        return next(f"task_{n}" for n in range(2, 10_000) if f"task_{n}" not in used)


def _rebound_inside(use: ast.Name, name: str, scope: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """Whether the use is in a function nested in `scope` that binds `name` itself (a nested
    generator's own `task = create_task(...)`): another variable, not the site's task object.
    A nested function that only reads the name (a closure) uses the site's."""
    node = parents.get(id(use))
    while node is not None and node is not scope:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            args = node.args
            params = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            if any(a is not None and a.arg == name for a in params):
                return True
            if not isinstance(node, ast.Lambda) and name in scope_bindings(node.body, "", False):
                declared = (
                    n
                    for stmt in ast.walk(node)
                    if isinstance(stmt, ast.Nonlocal | ast.Global)
                    for n in stmt.names
                )
                if name not in declared:
                    return True
        node = parents.get(id(node))
    return False


def _after_rebinding(
    use: ast.Name,
    others: list[ast.stmt],
    site: ast.stmt,
    scope: ast.AST,
    parents: dict[int, ast.AST],
    positions: dict[int, tuple[list[ast.stmt], dict[int, int]]],
) -> bool:
    """Whether the binding a use reads is one of the `others`, not the site's own: the nearest
    binding before it in its block, or in the blocks around it (`t = Thread(a)` ... `t =
    Thread(b)` ... `t.join()` joins the second). A use in a nested function (a closure, run
    later: khoj's cleanup cancels the monitor task) is the site's."""
    bindings = [*others, site]
    node: ast.AST | None = use
    while node is not None and node is not scope:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return False
        if isinstance(node, ast.stmt):
            block = _block_of(node, parents)
            known = positions.get(id(block))
            if known is None or known[0] is not block:  # each place in its block, once
                known = positions[id(block)] = (block, {id(e): i for i, e in enumerate(block)})
            index = known[1]
            here = index.get(id(node))
            if here is not None:
                before = [b for b in bindings if index.get(id(b), here) < here]
                if before:
                    nearest = max(before, key=lambda b: index[id(b)])
                    if nearest is site:
                        return False
                    # the site inside what runs between that binding and the use (a loop
                    # that holds both, a block before it): the use may read the site's
                    between = block[index[id(nearest)] + 1 : here + 1]
                    return not any(_holds(statement, site) for statement in between)
        node = parents.get(id(node))
    return False


def _assignment_of(name: ast.Name, parents: dict[int, ast.AST]) -> ast.stmt | None:
    """The statement that certainly binds `name` when it runs: an assignment with it as a
    target (or inside a tuple of targets). Not a `for` target (the loop may not run), a
    comprehension's own variable or a walrus in a test (they may not bind the name)."""
    node: ast.AST = name
    parent = parents.get(id(node))
    while isinstance(parent, ast.Tuple | ast.List | ast.Starred):
        node, parent = parent, parents.get(id(parent))
    if isinstance(parent, ast.Assign) and node in parent.targets:
        return parent
    if isinstance(parent, ast.AnnAssign) and parent.value is not None and node is parent.target:
        return parent
    return None


def _holds(statement: ast.stmt, node: ast.stmt) -> bool:
    """Whether `node` is `statement` or inside it (by their lines)."""
    end = statement.end_lineno or statement.lineno
    return statement.lineno <= node.lineno <= end


def _thread_use(attribute: ast.Attribute, parents: dict[int, ast.AST]) -> str:
    """What a use of a kept thread object is: "start" (`t.start()`), "guard" (its daemon flag
    or name set on the way), "wait" (`t.join()`), "stored" (anything else)."""
    statement = _statement_of(attribute, parents)
    called = parents.get(id(attribute))
    at_statement = isinstance(called, ast.Call) and parents.get(id(called)) is statement
    if attribute.attr == "join":
        return "wait"
    if attribute.attr in THREAD_ATTRS and at_statement and isinstance(statement, ast.Expr):
        return "start" if attribute.attr == "start" else "guard"
    if (
        attribute.attr in THREAD_FIELDS
        and isinstance(attribute.ctx, ast.Store)
        and isinstance(statement, ast.Assign)
    ):
        return "guard"
    return "stored"


def _not_streamed(response: ast.AST | None) -> None:
    """Raise _Stop when the call a BackgroundTask is given to is a streaming response."""
    if isinstance(response, ast.Call):
        func = response.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in STREAMING:
            raise _Stop(
                "ignored",
                f"the task runs when the {name} has sent its body: the response's cleanup",
            )


def _statement_of(node: ast.AST, parents: dict[int, ast.AST]) -> ast.stmt:
    while not isinstance(node, ast.stmt):
        node = parents[id(node)]
    return node


def _block_of(stmt: ast.stmt, parents: dict[int, ast.AST]) -> list[ast.stmt]:
    owner = parents.get(id(stmt))
    for name in ("body", "orelse", "finalbody", "handlers"):
        block = getattr(owner, name, None)
        if isinstance(block, list) and stmt in block:
            return block
    return [stmt]


def _is_guard_set(expr: ast.expr, info: ModuleInfo) -> bool:
    """A set that only keeps tasks alive: its other uses are `.add`, `.discard`, its creation.

    Only the statements on lines that spell the set's last name are entered: the answer is the
    same as a walk of the whole module, at the cost of the lines that use the name."""
    if not isinstance(expr, ast.Name | ast.Attribute):
        return False
    key = ast.unparse(expr)
    last = last_name(expr)
    return not any(
        isinstance(node, ast.Name | ast.Attribute)
        and last_name(node) == last
        and ast.unparse(node) == key
        and not (isinstance(parent, ast.Attribute) and parent.attr in ("add", "discard"))
        and not isinstance(node.ctx, ast.Store)
        for node, parent in walk_lines(info.tree, word_lines(info.source, [last]))
    )

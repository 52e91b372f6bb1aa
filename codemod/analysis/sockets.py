"""Jobs that push to browsers through the web process's Socket.IO server."""

from __future__ import annotations

from codemod.model.resolve import Func, Resolver
from codemod.model.sources import Sources
from codemod.model.summary import CALLED

# Socket.IO servers: a server made without a message queue reaches only the browsers connected
# to the process that made it.
SERVERS = frozenset(
    {
        "flask_socketio.SocketIO",
        "socketio.Server",
        "socketio.AsyncServer",
        "socketio.server.Server",
        "socketio.async_server.AsyncServer",
    }
)
PUSHES = frozenset({"emit", "send", "call", "enter_room", "leave_room", "close_room"})
# What gives a server a queue that other processes publish to.
QUEUED = (b"message_queue", b"client_manager", b"RedisManager", b"KombuManager")
# How many lines of the server's construction are read for its keywords.
_LINES = 6


def socket_push(walk: list[Func], resolver: Resolver, sources: Sources) -> str | None:
    """How a function of the job's walk pushes through a Socket.IO server of the web process
    that has no message queue ("`convert` (app/web.py:14) emits through `socketio`
    (app/web.py:8)"), if one does: from a worker the push reaches no browser, and nothing
    fails."""
    program = resolver.program
    for function in walk:
        for ref in function.fn.refs:
            chain = ref.chain
            if not ref.flags & CALLED or len(chain) < 2 or chain[-1] not in PUSHES:
                continue
            if chain[0] in function.fn.locals:
                continue
            qualname = resolver.qualify_chain(function.summary, chain[:-1])
            found = resolver.resolve(qualname) if qualname else None
            if found is None:
                continue
            where, binding = found
            value = binding.value if binding.kind == "assign" else None
            made = resolver.qualify_chain(where, value.call) if value and value.call else None
            line = binding.line
            if made not in SERVERS or _queued(
                where.module, binding.target, line, sources, resolver
            ):
                continue
            return (
                f"`{function.display}` ({program.rel(function.module)}:{ref.line}) calls "
                f"`{'.'.join(chain)}` on the Socket.IO server `{chain[-2]}` "
                f"({program.rel(where.module)}:{line}), which has no message queue: from a "
                "worker it reaches no browser (give the server a `message_queue` that workers "
                "publish to as well)"
            )
    return None


def _queued(module: str, name: str, line: int, sources: Sources, resolver: Resolver) -> bool:
    """Whether the server `name`, made on `line` of `module`, is given a message queue: where
    it is made, or by an `init_app(...)` (read from the lines of the calls)."""
    rel = resolver.program.rel(module)
    if not line or rel not in sources:
        return True  # not readable: say nothing
    if _names_queue(sources.data(rel), line):
        return True
    # or the factory gives it one: `socketio.init_app(app, message_queue=...)`
    call = f"{name}.init_app(".encode()
    for each in sources.spelling_word(name):
        data = sources.data(each)
        at = data.find(call)
        while at >= 0:
            if _names_queue(data, data.count(b"\n", 0, at) + 1):
                return True
            at = data.find(call, at + 1)
    return False


def _names_queue(data: bytes, line: int) -> bool:
    """Whether the call on that line (and the next few) names a message queue."""
    lines = data.splitlines()[line - 1 : line - 1 + _LINES]
    text = b"\n".join(each.partition(b"#")[0] for each in lines)  # not what comments say
    return any(word in text for word in QUEUED)

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
            found = resolver.assigned(qualname) if qualname else None
            if found is None or qualname is None:
                continue
            where, value = found
            made = resolver.qualify_chain(where, value.call) if value.call else None
            if made not in SERVERS or _queued(where.module, qualname, resolver, sources):
                continue
            line = _line(where.module, qualname, resolver)
            return (
                f"`{function.display}` ({program.rel(function.module)}:{ref.line}) calls "
                f"`{'.'.join(chain)}` on the Socket.IO server `{chain[-2]}` "
                f"({program.rel(where.module)}:{line}), which has no message queue: from a "
                "worker it reaches no browser (give the server a `message_queue` that workers "
                "publish to as well)"
            )
    return None


def _line(module: str, qualname: str, resolver: Resolver) -> int:
    found = resolver.resolve(qualname)
    return found[1].line if found is not None else 0


def _queued(module: str, qualname: str, resolver: Resolver, sources: Sources) -> bool:
    """Whether the server's construction names a message queue (read from its lines)."""
    line = _line(module, qualname, resolver)
    rel = resolver.program.rel(module)
    if not line or rel not in sources:
        return True  # not readable: say nothing
    if _names_queue(sources.data(rel), line):
        return True
    # or the factory gives it one: `socketio.init_app(app, message_queue=...)`
    name = qualname.rpartition(".")[2]
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

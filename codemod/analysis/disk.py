"""Jobs that use a folder the web side uses too: files that stay on the web host's disk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from codemod.analysis.webside import JobCheck
from codemod.model.paths import PATH_FIELD
from codemod.model.resolve import Func, Resolver
from codemod.model.summary import Chain, Function, ModuleSummary, PathExpr

# A folder (or file) named the same way on both sides: a literal path ("", ("outputs",)), a
# module-level name or attribute and what is joined to it ("app.config.UPLOAD_DIR", ("pdf",)).
Folder = tuple[str, tuple[str, ...]]

# Folders that many unrelated jobs use for scratch files: sharing them means nothing.
SCRATCH = frozenset({("/", ("tmp",)), ("/", ("var", "tmp"))})
MAX_FILES = 150
LOCAL_DEPTH = 3
HINT = (
    "a worker on another host reads and writes its own disk: keep the files where both reach "
    "them (object storage, the database) first; or set `shared-filesystem = true` if web and "
    "workers share a disk"
)


@dataclass(frozen=True)
class _Use:
    function: str  # the display name, or "the module level"
    path: str  # root-relative
    line: int
    what: str  # "writes `outputs/...`"


class SharedDisk(JobCheck):
    """The folders a job shares with the web side, per run (jobs are asked once)."""

    def _shared(self, job: Func) -> str | None:
        walk = self.walk(job)
        keys = {f.key for f in walk}
        program = self.resolver.program
        for function in walk:
            paths = _Paths(function.summary, function.fn, self.resolver)
            uses = [*paths.disk_uses(), *_path_records(function.fn)]
            for folder, text, writes, _ in uses:
                web = self._web_use(folder, keys, writes)
                if web is None:
                    continue
                if web.what == "":
                    return (
                        f"`{function.display}` uses `{text}`, whose name more than {MAX_FILES} "
                        "modules spell: its other users were not checked"
                    )
                where = f"{web.path}:{web.line}"
                verb = "writes to" if writes else "reads"
                if folder[0].startswith(".") and text.endswith("=..."):
                    verb = "records the path"
                return (
                    f"`{function.display}` ({program.rel(function.module)}) {verb} "
                    f"`{text}`, which {web.function} ({where}) {web.what} too in the web process"
                )
        return None

    def shared_through(self, job: Func, site: ModuleSummary, args: dict[str, Chain]) -> str | None:
        """Why the job uses a folder the web side uses too through its parameters: a job that
        lists and removes the files of `cache_dir`, which a call site fills with the folder
        the web process writes its cache to (`config.cache_dir`, `CACHE_DIR`). `args`: the job's
        parameters that the call site gives a module-level name or attribute, as `site`
        spells it."""
        folders = {
            name: found
            for name, chain in args.items()
            if (found := _Paths(site, None, self.resolver).folders_named(chain))
        }
        if not folders:
            return None
        keys = {f.key for f in self.walk(job)}
        paths = _Paths(job.summary, job.fn, self.resolver, folders)
        for folder, text, writes, _ in paths.disk_uses():
            web = self._web_use(folder, keys, writes)
            if web is None or web.what == "":
                continue
            verb = "writes to" if writes else "uses"
            return (
                f"`{job.display}` ({self.resolver.program.rel(job.module)}) {verb} "
                f"`{text}`, the folder the call site gives it, which {web.function} "
                f"({web.path}:{web.line}) {web.what} too in the web process"
            )
        return None

    def _web_use(self, folder: Folder, walk: set[str], job_writes: bool) -> _Use | None:
        base, parts = folder
        word = parts[0] if base in ("", "/") else base.rpartition(".")[2]
        if base.startswith("."):
            word = base[1:]
        rels = self.sources.spelling_word(word)
        if len(rels) > MAX_FILES:
            return _Use("", "", 0, "")
        resolver = self.resolver
        for rel in rels:
            summary = resolver.program.at(self.sources.path(rel), rel)
            if summary is None or summary.error is not None:
                continue
            scopes: list[Func | None] = [None]
            scopes += [f for f in resolver.functions(summary) if f.key not in walk]
            top = resolver.top_level(summary)
            for scope in scopes:
                body = scope or top
                if body is None:
                    continue
                paths = _Paths(summary, body.fn if scope is not None else None, resolver)
                for found, text, writes, line in paths.disk_uses(body.fn):
                    web = scope is None or self.web.runs(scope)
                    if _same(found, folder) and (job_writes or writes) and web:
                        name = f"`{scope.display}`" if scope else "the module level"
                        verb = "writes to" if writes else "reads"
                        if base.startswith("."):
                            verb = "opens the file at"
                        return _Use(name, rel, line, f"{verb} `{text}`")
        return None


def _same(a: Folder, b: Folder) -> bool:
    """The same folder, or one inside the other."""
    if a[0] != b[0]:
        return False
    short, long = sorted((a[1], b[1]), key=len)
    return long[: len(short)] == short and (bool(short) or a[0] not in ("", "/"))


def _path_records(function: Function) -> Iterator[tuple[Folder, str, bool, int]]:
    """Where a job records a path as data for others to open (`Podcast(file_location=path)`,
    `row.file_path = path`): a field named as a path, which the web side may read from disk."""
    for field, text, line in function.records:
        yield (f".{field}", ()), text, True, line


def _spelled(folder: Folder) -> str:
    base, parts = folder
    if base.startswith("."):
        return f"<record>{base}"
    head = [] if base in ("", "/") else [base.rpartition(".")[2]]
    return ("/" if base == "/" else "") + "/".join(head + list(parts)) + "/..."


class _Paths:
    """Where the path expressions of one scope start (a function; None: the module's top
    level), names followed to what they are bound to."""

    def __init__(
        self,
        summary: ModuleSummary,
        function: Function | None,
        resolver: Resolver,
        params: dict[str, list[Folder]] | None = None,
    ):
        self.summary = summary
        self.function = function
        self.resolver = resolver
        # the folders the function's parameters are given (by one call site)
        self.params = params or {}

    def folders_named(self, chain: Chain) -> list[Folder]:
        """The folders a module-level name or attribute names (`CACHE_DIR`,
        `config.cache_dir`), where this module spells it."""
        return [f for f in self._module_level(chain, 0) if f not in SCRATCH]

    def disk_uses(self, body: Function | None = None) -> Iterator[tuple[Folder, str, bool, int]]:
        """(folder, how the code spells it) of each disk access whose path starts at a folder
        named the same way anywhere: a literal, a module-level name, or what is joined to it."""
        scope = body or self.function
        if scope is None:
            return
        for use in scope.disk:
            if use.receiver and not self.pathish(use.expr, 0):
                continue  # `gzip.open(...)`, `storage.open(...)`: no path of this disk
            for folder in self.folders(use.expr, 0):
                if folder not in SCRATCH:
                    yield folder, _spelled(folder), use.writes, use.line

    def _local(self, name: str) -> PathExpr | None:
        return self.function.path_locals.get(name) if self.function is not None else None

    def folders(self, expr: PathExpr | None, depth: int) -> list[Folder]:
        if expr is None or depth > LOCAL_DEPTH:
            return []
        kind = expr.kind
        if kind == "lit":
            found = _literal(expr.text, complete=True)
            return [found] if found else []
        if kind == "flit":
            found = _literal(expr.text, complete=False)
            return [found] if found else []
        if kind in ("fstr", "join"):
            return [(b, p + expr.parts) for b, p in self.folders(expr.inner, depth + 1)]
        if kind in ("env", "parent"):
            return self.folders(expr.inner, depth + 1)
        if kind == "local":
            return self.folders(self._local(expr.text), depth + 1)
        if kind == "named" and expr.chain is not None:
            return self._module_level(expr.chain, depth)
        return []

    def pathish(self, expr: PathExpr | None, depth: int) -> bool:
        """Whether an expression is evidently a path: a literal, `Path(...)`, `a / b`, `.parent`
        of one, or a name bound to one."""
        if expr is None or depth > LOCAL_DEPTH:
            return False
        kind = expr.kind
        if kind in ("lit", "flit", "const", "jstr", "fstr", "parent"):
            return True
        if kind == "join":
            return expr.pathish
        if kind == "local":
            return self.pathish(self._local(expr.text), depth + 1)
        if kind == "named" and expr.chain is not None and len(expr.chain) == 1:
            qualname = self.resolver.qualify(self.summary, expr.chain[0])
            found = self.resolver.resolve(qualname) if qualname else None
            if found is not None and found[1].kind == "assign" and found[1].value is not None:
                value = found[1].value.path
                return _Paths(found[0], None, self.resolver).pathish(value, depth + 1)
        return False

    def _module_level(self, chain: Chain, depth: int) -> list[Folder]:
        function = self.function
        if len(chain) == 1 and chain[0] in self.params:
            return self.params[chain[0]]
        if len(chain) == 1 and function is not None and chain[0] in function.locals:
            return []  # a parameter or a local bound more than once: not followed
        if (
            len(chain) == 2
            and function is not None
            and chain[0] in function.locals
            and PATH_FIELD.search(chain[1])
        ):
            return [(f".{chain[1]}", ())]  # `podcast.file_location`: a path kept as data
        resolver = self.resolver
        qualname = resolver.qualify_chain(self.summary, chain)
        if qualname is None or qualname.startswith("builtins."):
            return []
        base = resolver.qualify(self.summary, chain[0])
        program = resolver.program
        if base is None or (resolver.resolve(base) is None and not program.exists(base)):
            return []  # a library's name (`gzip`, `tempfile`): no folder of the app's
        out: list[Folder] = [(qualname, ())]
        found = resolver.resolve(qualname)
        if found is not None:
            summary, binding = found
            if binding.kind == "assign" and binding.value is not None:
                inner = _Paths(summary, None, resolver).folders(binding.value.path, depth + 1)
                out += inner
        return out


def _literal(text: str, complete: bool) -> Folder | None:
    """Where a literal path starts: its first folder (two for an absolute path); `complete`
    False for the text before an f-string's first field, whose last piece runs on into it."""
    absolute = text.startswith("/")
    pieces = text.split("/")
    if not complete:
        pieces = pieces[:-1]
    parts = tuple(p for p in pieces if p not in ("", "."))
    parts = parts[:2] if absolute else parts[:1]
    return ("/" if absolute else "", parts) if parts else None

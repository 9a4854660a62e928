"""Which definition a name at the cursor refers to, through the file's imports.

A name is looked up the way the language finds it, using only the index's tags (no parse, no
disk): Python absolute imports (also under `src/` and the file's own ancestors as roots),
relative imports and `from x import y as z`, module aliases (`import pkg.net as n; n.send(`);
JS/TS relative imports with extension probing, `index` files and `export … from` re-exports;
Go's same package (the file's directory) and imported packages (a directory named like the
import path's last segment); Rust's `use crate::…`, `super::`, `self::`. What no import explains
falls back to a definition of that name in the file itself, then to the one definition of that
name in the whole workspace. A method called on a value whose type is unknown (`client.send(`)
is looked for among the methods of classes the file imports, then by that fallback.

`resolve` returns None rather than guess between several candidates: a wrong definition in the
prompt misleads the model more than none.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from typing import Protocol

from lsp_assist.context.tags import FileTags, Import, Symbol

MAX_HOPS = 4
"""How many re-exports (or `__init__` re-imports) are followed for one name."""

JS_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts", ".d.ts")
_FAMILIES = {"javascript": "js", "typescript": "js", "tsx": "js"}


class TagIndex(Protocol):
    """What retrieval needs of the workspace index."""

    @property
    def generation(self) -> int:
        """Bumped whenever any file's tags change."""
        ...

    def file(self, path: str) -> FileTags | None: ...

    def symbols_named(self, name: str) -> Sequence[Symbol]: ...

    def paths(self) -> Iterable[str]: ...


def family(language: str) -> str:
    """Languages whose files import each other (JavaScript, TypeScript and TSX)."""
    return _FAMILIES.get(language, language)


def resolve(index: TagIndex, current: FileTags, chain: Sequence[str]) -> Symbol | None:
    """The definition `chain` refers to in `current`: ("send",) for a bare name,
    ("n", "send") for `n.send`, ("client", "send") for a method of an unknown value."""
    if not chain:
        return None
    resolver = _RESOLVERS.get(family(current.language))
    if resolver is not None:
        found = resolver(index, current, chain)
        if found is not None:
            return found
    name = chain[-1]
    if len(chain) == 1:
        own = _top_level(current, name)
        if own is not None:
            return own
    elif chain[0] in ("self", "this", "cls") and len(chain) == 2:
        own = _method_of(index, current, name)
        if own is not None:
            return own
    return _fallback(index, current, name, method=len(chain) > 1)


# -- shared ----------------------------------------------------------------------------------


def _top_level(tags: FileTags, name: str) -> Symbol | None:
    for symbol in tags.symbols:
        if symbol.name == name and not symbol.container:
            return symbol
    return None


def _member(tags: FileTags, container: str, name: str) -> Symbol | None:
    for symbol in tags.symbols:
        if symbol.name == name and symbol.container == container:
            return symbol
    return None


def _method_of(index: TagIndex, current: FileTags, name: str) -> Symbol | None:
    """`self.name`: a method of a class of this file (the one defining it, if only one)."""
    found = [s for s in current.symbols if s.name == name and s.container]
    return found[0] if len({s.container for s in found}) == 1 else None


def _fallback(index: TagIndex, current: FileTags, name: str, *, method: bool) -> Symbol | None:
    named = index.symbols_named(name)
    if not named:
        return None
    kin = family(current.language)
    if method:
        # The methods of classes this file imports or defines are the likely receivers.
        classes = {i.alias for i in current.imports} | {i.name for i in current.imports}
        classes |= {s.name for s in current.symbols if s.kind == "class"}
        classes.discard("")
        methods = _at_most_two(index, (s for s in named if s.container in classes), kin)
        if len(methods) == 1:
            return methods[0]
    candidates = (s for s in named if method or not s.container)
    found = _at_most_two(index, candidates, kin)
    return found[0] if len(found) == 1 else None


def _at_most_two(index: TagIndex, symbols: Iterable[Symbol], kin: str) -> list[Symbol]:
    """The first two of `symbols` in files of the language family `kin` (enough to tell
    one from several, however common the name)."""
    found: list[Symbol] = []
    for symbol in symbols:
        if _same_family(index, symbol.path, kin):
            found.append(symbol)
            if len(found) == 2:
                break
    return found


def _same_family(index: TagIndex, path: str, kin: str) -> bool:
    tags = index.file(path)
    return tags is not None and family(tags.language) == kin


def _in_file(
    index: TagIndex, path: str | None, chain: Sequence[str], hops: int = 0
) -> Symbol | None:
    """`chain` (a name, or a class and a member) in the file at `path`."""
    tags = index.file(path) if path is not None else None
    if tags is None or not chain:
        return None
    if len(chain) == 1:
        return _top_level(tags, chain[0]) or _reexported(index, tags, chain[0], hops)
    if len(chain) == 2:
        return _member(tags, chain[0], chain[1])
    return None


def _reexported(index: TagIndex, tags: FileTags, name: str, hops: int) -> Symbol | None:
    """A name a module only passes on: JS/TS `export … from`, Python's `from .x import y`."""
    if hops >= MAX_HOPS:
        return None
    kin = family(tags.language)
    if kin == "js":
        for export in tags.exports:
            target = _js_module(index, tags.path, export.module)
            if export.name == "*" and not export.alias:
                found = _in_file(index, target, (name,), hops + 1)
            elif (export.alias or export.name) == name:
                found = _in_file(index, target, (export.name,), hops + 1)
            else:
                continue
            if found is not None:
                return found
        bindings = tags.imports
    elif kin == "python":
        bindings = tags.imports
    else:
        return None
    for binding in bindings:
        if binding.alias == name and binding.name:
            found = _imported(index, tags, binding, (), hops + 1)
            if found is not None:
                return found
    return None


def _imported(
    index: TagIndex, current: FileTags, binding: Import, rest: Sequence[str], hops: int = 0
) -> Symbol | None:
    kin = family(current.language)
    if kin == "python":
        return _python_imported(index, current, binding, rest, hops)
    if kin == "js":
        target = _js_module(index, current.path, binding.module)
        if not binding.name:  # import * as net
            return _in_file(index, target, rest, hops)
        name = binding.name
        if name == "default":
            name = binding.alias
        return _in_file(index, target, (name, *rest), hops)
    return None


# -- Python ----------------------------------------------------------------------------------


def _python(index: TagIndex, current: FileTags, chain: Sequence[str]) -> Symbol | None:
    head, rest = chain[0], tuple(chain[1:])
    for binding in current.imports:
        if binding.alias == head and binding.name != "*":
            return _python_imported(index, current, binding, rest)
    if rest:
        return None
    for binding in current.imports:  # from module import *
        if binding.name == "*":
            found = _in_file(index, _python_module(index, current.path, binding.module), chain)
            if found is not None:
                return found
    return None


def _python_imported(
    index: TagIndex, current: FileTags, binding: Import, rest: Sequence[str], hops: int = 0
) -> Symbol | None:
    if binding.name:  # from module import name [as alias]
        module = _python_module(index, current.path, binding.module)
        found = _in_file(index, module, (binding.name, *rest), hops) if module else None
        if found is not None:
            return found
        # `from pkg import net` binds a submodule.
        sub = binding.module + ("" if binding.module.endswith(".") else ".") + binding.name
        return _python_dotted(index, current.path, sub, rest)
    module = binding.module
    if "." in module and binding.alias == module.split(".")[0]:
        module = binding.alias  # `import pkg.client` binds "pkg"
    return _python_dotted(index, current.path, module, rest)


def _python_dotted(index: TagIndex, path: str, module: str, rest: Sequence[str]) -> Symbol | None:
    """`rest` looked up from `module`: the longest prefix of it that is a module, then a name
    (or a class and its member) in that module."""
    for split in range(len(rest) - 1, -1, -1):
        names = rest[split:]
        if len(names) > 2:
            break
        dotted = module + ("" if module.endswith(".") or split == 0 else ".")
        dotted += ".".join(rest[:split])
        target = _python_module(index, path, dotted)
        if target is not None:
            found = _in_file(index, target, names)
            if found is not None:
                return found
    return None


def _python_module(index: TagIndex, path: str, module: str) -> str | None:
    """The file of `module` imported from `path`: `pkg/mod.py` or `pkg/mod/__init__.py`, under
    the workspace root, `src/`, or one of the file's own ancestors; relative to the file's
    package for a leading `.`."""
    if module.startswith("."):
        level = len(module) - len(module.lstrip("."))
        base = posixpath.dirname(path)
        for _ in range(level - 1):
            base = posixpath.dirname(base)
        roots = [f"{base}/" if base else ""]
        module = module[level:]
    else:
        roots = ["", "src/"]
        parent = posixpath.dirname(path)
        while parent:
            roots.append(f"{parent}/")
            parent = posixpath.dirname(parent)
    stem = module.replace(".", "/")
    for root in roots:
        base = f"{root}{stem}"
        names = [f"{base}.py", f"{base}.pyi", f"{base}/__init__.py"]
        for candidate in names if stem else [f"{root}__init__.py"]:
            if index.file(candidate) is not None:
                return candidate
    return None


# -- JavaScript / TypeScript -----------------------------------------------------------------


def _js(index: TagIndex, current: FileTags, chain: Sequence[str]) -> Symbol | None:
    head, rest = chain[0], tuple(chain[1:])
    for binding in current.imports:
        if binding.alias == head:
            return _imported(index, current, binding, rest)
    return None


def _js_module(index: TagIndex, path: str, module: str) -> str | None:
    """The file a relative specifier names: as written, with an extension, or its `index`;
    a `.js` specifier may name a `.ts` source (TypeScript's ESM convention)."""
    if not module.startswith("."):
        return None
    base = posixpath.normpath(posixpath.join(posixpath.dirname(path), module))
    stems = [base]
    stem, extension = posixpath.splitext(base)
    if extension in (".js", ".jsx", ".mjs", ".cjs"):
        stems.append(stem)
    if index.file(base) is not None:
        return base
    for candidate_stem in stems:
        for suffix in JS_EXTENSIONS:
            for candidate in (f"{candidate_stem}{suffix}", f"{candidate_stem}/index{suffix}"):
                if index.file(candidate) is not None:
                    return candidate
    return None


# -- Go --------------------------------------------------------------------------------------


def _go(index: TagIndex, current: FileTags, chain: Sequence[str]) -> Symbol | None:
    directory = posixpath.dirname(current.path)
    if len(chain) == 1:
        same = [
            s
            for s in index.symbols_named(chain[0])
            if posixpath.dirname(s.path) == directory and not s.container
        ]
        return same[0] if len(same) == 1 else None
    if len(chain) != 2:
        return None
    for binding in current.imports:
        if binding.alias == chain[0] or (not binding.alias and _last(binding.module) == chain[0]):
            return _go_package_member(index, binding.module, chain[1])
    return None


def _last(module: str) -> str:
    return module.rstrip("/").rsplit("/", 1)[-1]


def _go_package_member(index: TagIndex, import_path: str, name: str) -> Symbol | None:
    """`name` in the workspace directory that the import path names: the one sharing the
    longest tail of segments with it."""
    wanted = import_path.strip("/").split("/")
    best: list[Symbol] = []
    best_score = 0
    for symbol in index.symbols_named(name):
        if symbol.container:
            continue
        segments = posixpath.dirname(symbol.path).split("/")
        score = 0
        while (
            score < min(len(segments), len(wanted)) and segments[-1 - score] == wanted[-1 - score]
        ):
            score += 1
        if score > best_score:
            best, best_score = [symbol], score
        elif score == best_score and score:
            best.append(symbol)
    return best[0] if len({posixpath.dirname(s.path) for s in best}) == 1 else None


# -- Rust ------------------------------------------------------------------------------------


def _rust(index: TagIndex, current: FileTags, chain: Sequence[str]) -> Symbol | None:
    head, rest = chain[0], tuple(chain[1:])
    if head in ("crate", "super", "self"):
        return _rust_path(index, current.path, chain[:-1], chain[-1])
    for binding in current.imports:
        segments = binding.module.split("::")
        if binding.name == "*":
            found = _rust_path(index, current.path, segments, chain[-1]) if not rest else None
        elif binding.alias == head and binding.name:
            if rest:
                found = _rust_path(index, current.path, [*segments, binding.name], "", rest)
            else:
                found = _rust_path(index, current.path, segments, binding.name)
        elif binding.alias == head:
            found = _rust_path(index, current.path, segments, "", rest)
        else:
            continue
        if found is not None:
            return found
    return None


def _rust_path(
    index: TagIndex,
    path: str,
    segments: Sequence[str],
    name: str,
    rest: Sequence[str] = (),
) -> Symbol | None:
    """`name` (or, when empty, `rest`: a name or a type and its member) in the module that
    `segments` (`crate::a::b`, `super::x`) names, seen from the file at `path`."""
    names = (name,) if name else tuple(rest)
    if not names or len(names) > 2:
        return None
    root, module = _rust_module_of(path)
    absolute: list[str] = []
    for position, segment in enumerate(segments):
        if segment == "crate" and position == 0:
            absolute = []
        elif segment == "self" and position == 0:
            absolute = list(module)
        elif segment == "super":
            absolute = (absolute if position else list(module))[:-1]
        else:
            if position == 0:
                absolute = list(module)  # a child module of this one
            absolute.append(segment)
    # `use crate::a::Thing` and `use crate::a::b` look alike: try the longest module first.
    for keep in range(len(absolute), -1, -1):
        inner = absolute[keep:]
        if len(inner) + len(names) > 2:
            continue
        for candidate in _rust_files(root, absolute[:keep]):
            found = _in_file(index, candidate, (*inner, *names))
            if found is not None:
                return found
    return None


def _rust_module_of(path: str) -> tuple[str, list[str]]:
    """The crate's source root and the module path of the file (`src/a/b.rs` → a::b)."""
    parts = path.split("/")
    root_at = max((i for i, part in enumerate(parts[:-1]) if part == "src"), default=-1)
    root = "/".join(parts[: root_at + 1]) if root_at >= 0 else posixpath.dirname(path)
    relative = parts[root_at + 1 :] if root_at >= 0 else parts[-1:]
    module = [*relative[:-1], relative[-1].removesuffix(".rs")]
    if module[-1] in ("mod", "lib", "main"):
        module.pop()
    return root, module


def _rust_files(root: str, module: Sequence[str]) -> tuple[str, ...]:
    prefix = f"{root}/" if root else ""
    if not module:
        return (f"{prefix}lib.rs", f"{prefix}main.rs")
    stem = prefix + "/".join(module)
    return (f"{stem}.rs", f"{stem}/mod.rs")


_RESOLVERS = {"python": _python, "js": _js, "go": _go, "rust": _rust}

"""An in-memory stand-in for the workspace index, for the context tests: the same four
members retrieval asks of the real one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lsp_assist.context.tags import FileTags, Import, Symbol


class MemoryIndex:
    def __init__(self, files: Iterable[FileTags] = ()) -> None:
        self._files: dict[str, FileTags] = {}
        self._named: dict[str, list[Symbol]] = {}
        self.generation = 0
        for tags in files:
            self.put(tags)

    def put(self, tags: FileTags) -> None:
        old = self._files.get(tags.path)
        if old is not None:
            for symbol in old.symbols:
                self._named[symbol.name].remove(symbol)
        self._files[tags.path] = tags
        for symbol in tags.symbols:
            self._named.setdefault(symbol.name, []).append(symbol)
        self.generation += 1

    def file(self, path: str) -> FileTags | None:
        return self._files.get(path)

    def symbols_named(self, name: str) -> Sequence[Symbol]:
        return self._named.get(name, ())

    def paths(self) -> Iterable[str]:
        return self._files.keys()


def symbol(
    path: str,
    name: str,
    line: int = 0,
    *,
    kind: str = "function",
    container: str = "",
    signature: str = "",
    doc: str = "",
    end_line: int = -1,
) -> Symbol:
    return Symbol(
        name,
        kind,
        container,
        signature or f"def {name}():",
        doc,
        path,
        line,
        end_line if end_line >= 0 else line + 1,
    )


def tags(
    path: str,
    symbols: Sequence[Symbol] = (),
    imports: Sequence[Import] = (),
    *,
    language: str = "python",
    exports: Sequence[Import] = (),
    package: str = "",
) -> FileTags:
    return FileTags(path, language, tuple(symbols), tuple(imports), tuple(exports), package)

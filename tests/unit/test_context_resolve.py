"""Import resolution: which definition a name at the cursor refers to, per language."""

from __future__ import annotations

import pytest

from lsp_assist.context.resolve import resolve
from lsp_assist.context.tags import FileTags, Import

from .tag_index import MemoryIndex, symbol, tags


def where(index: MemoryIndex, current: FileTags, *chain: str) -> tuple[str, str] | None:
    found = resolve(index, current, chain)
    return (found.path, found.name) if found is not None else None


# -- Python ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module_path",
    ["pkg/net.py", "pkg/net/__init__.py", "src/pkg/net.py", "src/pkg/net/__init__.py"],
)
def test_a_python_absolute_import_finds_the_module_file_or_package(module_path: str) -> None:
    index = MemoryIndex([tags(module_path, [symbol(module_path, "send")])])
    current = tags("app/main.py", imports=[Import("pkg.net", "send", "send")])
    assert where(index, current, "send") == (module_path, "send")


def test_a_python_import_is_found_from_the_files_own_ancestor_root() -> None:
    index = MemoryIndex([tags("tools/cli/pkg/net.py", [symbol("tools/cli/pkg/net.py", "send")])])
    current = tags("tools/cli/main.py", imports=[Import("pkg.net", "send", "send")])
    assert where(index, current, "send") == ("tools/cli/pkg/net.py", "send")


@pytest.mark.parametrize(
    ("module", "target"),
    [(".net", "pkg/sub/net.py"), ("..net", "pkg/net.py"), (".", "pkg/sub/__init__.py")],
)
def test_python_relative_imports_start_from_the_files_package(module: str, target: str) -> None:
    index = MemoryIndex(
        [
            tags("pkg/sub/net.py", [symbol("pkg/sub/net.py", "send")]),
            tags("pkg/net.py", [symbol("pkg/net.py", "send")]),
            tags("pkg/sub/__init__.py", [symbol("pkg/sub/__init__.py", "send")]),
        ]
    )
    current = tags("pkg/sub/client.py", imports=[Import(module, "send", "send")])
    assert where(index, current, "send") == (target, "send")


def test_from_x_import_y_as_z_resolves_z_to_y() -> None:
    index = MemoryIndex([tags("pkg/net.py", [symbol("pkg/net.py", "send")])])
    current = tags("main.py", imports=[Import("pkg.net", "send", "transmit")])
    assert where(index, current, "transmit") == ("pkg/net.py", "send")


def test_a_module_alias_resolves_its_attributes() -> None:
    index = MemoryIndex(
        [
            tags("pkg/net.py", [symbol("pkg/net.py", "send")]),
            tags("other/net.py", [symbol("other/net.py", "send")]),
        ]
    )
    current = tags("main.py", imports=[Import("pkg.net", "", "n")])
    assert where(index, current, "n", "send") == ("pkg/net.py", "send")


def test_import_pkg_mod_binds_pkg_and_its_dotted_attributes() -> None:
    index = MemoryIndex(
        [
            tags("pkg/client.py", [symbol("pkg/client.py", "connect")]),
            tags("lib/client.py", [symbol("lib/client.py", "connect")]),
        ]
    )
    current = tags("main.py", imports=[Import("pkg.client", "", "pkg")])
    assert where(index, current, "pkg", "client", "connect") == ("pkg/client.py", "connect")


def test_a_class_member_through_an_imported_class() -> None:
    methods = [
        symbol("pkg/net.py", "Client", kind="class", signature="class Client:"),
        symbol("pkg/net.py", "send", 3, kind="method", container="Client"),
        symbol("pkg/other.py", "send", 3, kind="method", container="Other"),
    ]
    index = MemoryIndex([tags("pkg/net.py", methods[:2]), tags("pkg/other.py", methods[2:])])
    current = tags("main.py", imports=[Import("pkg.net", "Client", "Client")])
    assert where(index, current, "Client", "send") == ("pkg/net.py", "send")


def test_from_package_import_submodule_then_its_function() -> None:
    index = MemoryIndex([tags("pkg/net.py", [symbol("pkg/net.py", "send")]), tags("x.py")])
    current = tags("pkg/app.py", imports=[Import(".", "net", "net")])
    assert where(index, current, "net", "send") == ("pkg/net.py", "send")


def test_a_name_reexported_by_a_package_init_is_followed_to_its_definition() -> None:
    index = MemoryIndex(
        [
            tags("pkg/__init__.py", imports=[Import(".net", "send", "send")]),
            tags("pkg/net.py", [symbol("pkg/net.py", "send")]),
            tags("lib/net.py", [symbol("lib/net.py", "send")]),
        ]
    )
    current = tags("main.py", imports=[Import("pkg", "send", "send")])
    assert where(index, current, "send") == ("pkg/net.py", "send")


def test_a_star_import_is_searched_for_bare_names() -> None:
    index = MemoryIndex(
        [
            tags("pkg/net.py", [symbol("pkg/net.py", "send")]),
            tags("lib/net.py", [symbol("lib/net.py", "send")]),
        ]
    )
    current = tags("main.py", imports=[Import("pkg.net", "*", "")])
    assert where(index, current, "send") == ("pkg/net.py", "send")


# -- JavaScript / TypeScript -----------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["src/net.ts", "src/net.tsx", "src/net.js", "src/net.mjs", "src/net.cts", "src/net/index.ts"],
)
def test_a_js_relative_import_probes_extensions_and_index_files(target: str) -> None:
    index = MemoryIndex([tags(target, [symbol(target, "send")], language="typescript")])
    current = tags("src/app.ts", imports=[Import("./net", "send", "send")], language="typescript")
    assert where(index, current, "send") == (target, "send")


def test_a_js_specifier_for_a_ts_source_finds_the_ts_file() -> None:
    index = MemoryIndex([tags("src/net.ts", [symbol("src/net.ts", "send")], language="typescript")])
    current = tags(
        "src/app.ts", imports=[Import("./net.js", "send", "send")], language="typescript"
    )
    assert where(index, current, "send") == ("src/net.ts", "send")


def test_a_js_namespace_import_resolves_its_members() -> None:
    index = MemoryIndex(
        [
            tags("lib/net.js", [symbol("lib/net.js", "send")], language="javascript"),
            tags("other/net.js", [symbol("other/net.js", "send")], language="javascript"),
        ]
    )
    current = tags("app/main.js", imports=[Import("../lib/net", "", "net")], language="javascript")
    assert where(index, current, "net", "send") == ("lib/net.js", "send")


def test_js_reexports_are_followed_through_index_files() -> None:
    index = MemoryIndex(
        [
            tags(
                "src/api/index.ts",
                language="typescript",
                exports=[Import("./client", "*", ""), Import("./net", "send", "post")],
            ),
            tags(
                "src/api/client.ts",
                [symbol("src/api/client.ts", "Client", kind="class")],
                language="typescript",
            ),
            tags("src/api/net.ts", [symbol("src/api/net.ts", "send")], language="typescript"),
            tags("src/x.ts", [symbol("src/x.ts", "send"), symbol("src/x.ts", "Client")]),
        ]
    )
    current = tags(
        "src/app.ts",
        imports=[Import("./api", "post", "post"), Import("./api", "Client", "Client")],
        language="typescript",
    )
    assert where(index, current, "post") == ("src/api/net.ts", "send")
    assert where(index, current, "Client") == ("src/api/client.ts", "Client")


def test_reexport_cycles_end() -> None:
    index = MemoryIndex(
        [
            tags("a.ts", language="typescript", exports=[Import("./b", "*", "")]),
            tags("b.ts", language="typescript", exports=[Import("./a", "*", "")]),
        ]
    )
    current = tags("main.ts", imports=[Import("./a", "send", "send")], language="typescript")
    assert where(index, current, "send") is None


def test_a_default_import_finds_the_definition_of_that_name() -> None:
    index = MemoryIndex(
        [tags("client.js", [symbol("client.js", "Client", kind="class")], language="javascript")]
    )
    current = tags(
        "main.js", imports=[Import("./client", "default", "Client")], language="javascript"
    )
    assert where(index, current, "Client") == ("client.js", "Client")


# -- Go --------------------------------------------------------------------------------------


def test_go_names_of_the_same_package_are_found_in_the_same_directory() -> None:
    index = MemoryIndex(
        [
            tags("svc/util.go", [symbol("svc/util.go", "helper")], language="go", package="svc"),
            tags("other/util.go", [symbol("other/util.go", "helper")], language="go"),
        ]
    )
    current = tags("svc/main.go", language="go", package="svc")
    assert where(index, current, "helper") == ("svc/util.go", "helper")


def test_a_go_import_path_names_the_directory_of_its_package() -> None:
    index = MemoryIndex(
        [
            tags("internal/net/send.go", [symbol("internal/net/send.go", "Send")], language="go"),
            tags("vendorish/x/send.go", [symbol("vendorish/x/send.go", "Send")], language="go"),
        ]
    )
    current = tags(
        "cmd/main.go", imports=[Import("example.com/app/internal/net", "", "net")], language="go"
    )
    assert where(index, current, "net", "Send") == ("internal/net/send.go", "Send")
    aliased = tags(
        "cmd/main.go", imports=[Import("example.com/app/internal/net", "", "n")], language="go"
    )
    assert where(index, aliased, "n", "Send") == ("internal/net/send.go", "Send")


# -- Rust ------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["src/net/client.rs", "src/net/client/mod.rs"])
def test_rust_use_crate_path_finds_the_module_file(target: str) -> None:
    index = MemoryIndex([tags(target, [symbol(target, "send")], language="rust")])
    current = tags(
        "src/main.rs", imports=[Import("crate::net", "client", "client")], language="rust"
    )
    assert where(index, current, "client", "send") == (target, "send")


def test_rust_use_of_an_item_finds_it_in_its_module_file() -> None:
    index = MemoryIndex([tags("src/net.rs", [symbol("src/net.rs", "send")], language="rust")])
    current = tags(
        "src/app/run.rs", imports=[Import("crate::net", "send", "send")], language="rust"
    )
    assert where(index, current, "send") == ("src/net.rs", "send")


def test_rust_use_super_goes_to_the_parent_module() -> None:
    index = MemoryIndex(
        [
            tags("src/app/mod.rs", [symbol("src/app/mod.rs", "helper")], language="rust"),
            tags("src/lib.rs", [symbol("src/lib.rs", "helper")], language="rust"),
        ]
    )
    child = tags("src/app/run.rs", imports=[Import("super", "helper", "helper")], language="rust")
    assert where(index, child, "helper") == ("src/app/mod.rs", "helper")
    module = tags("src/app/mod.rs", imports=[Import("super", "helper", "helper")], language="rust")
    assert where(index, module, "helper") == ("src/lib.rs", "helper")


def test_a_rust_type_imported_by_use_resolves_its_associated_functions() -> None:
    index = MemoryIndex(
        [
            tags(
                "src/net.rs",
                [
                    symbol("src/net.rs", "Client", kind="class"),
                    symbol("src/net.rs", "new", 2, kind="method", container="Client"),
                ],
                language="rust",
            ),
            tags("src/x.rs", [symbol("src/x.rs", "new", 2, kind="method", container="X")]),
        ]
    )
    current = tags(
        "src/main.rs", imports=[Import("crate::net", "Client", "Client")], language="rust"
    )
    assert where(index, current, "Client", "new") == ("src/net.rs", "new")


# -- fallbacks -------------------------------------------------------------------------------


def test_a_name_defined_once_in_the_workspace_is_the_fallback() -> None:
    index = MemoryIndex([tags("deep/where/util.py", [symbol("deep/where/util.py", "unique")])])
    assert where(index, tags("main.py"), "unique") == ("deep/where/util.py", "unique")


def test_a_name_defined_twice_is_not_guessed() -> None:
    index = MemoryIndex(
        [tags("a.py", [symbol("a.py", "twice")]), tags("b.py", [symbol("b.py", "twice")])]
    )
    assert where(index, tags("main.py"), "twice") is None


def test_the_fallback_ignores_other_languages() -> None:
    index = MemoryIndex(
        [
            tags("a.py", [symbol("a.py", "send")]),
            tags("b.go", [symbol("b.go", "send")], language="go"),
        ]
    )
    assert where(index, tags("main.py"), "send") == ("a.py", "send")


def test_a_method_on_a_value_of_unknown_type_prefers_classes_the_file_imports() -> None:
    index = MemoryIndex(
        [
            tags(
                "pkg/net.py",
                [
                    symbol("pkg/net.py", "Client", kind="class"),
                    symbol("pkg/net.py", "send", 2, kind="method", container="Client"),
                ],
            ),
            tags(
                "pkg/mail.py", [symbol("pkg/mail.py", "send", 2, kind="method", container="Mailer")]
            ),
        ]
    )
    current = tags("main.py", imports=[Import("pkg.net", "Client", "Client")])
    assert where(index, current, "client", "send") == ("pkg/net.py", "send")
    assert where(index, tags("main.py"), "client", "send") is None


def test_self_methods_resolve_in_the_current_file() -> None:
    current = tags(
        "main.py",
        [
            symbol("main.py", "Job", kind="class"),
            symbol("main.py", "step", 3, kind="method", container="Job"),
        ],
    )
    index = MemoryIndex(
        [current, tags("x.py", [symbol("x.py", "step", kind="method", container="Other")])]
    )
    assert where(index, current, "self", "step") == ("main.py", "step")

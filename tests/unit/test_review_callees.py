from __future__ import annotations

from lsp_assist.context.tags import Symbol
from lsp_assist.review.callees import called_names, callee_signatures
from lsp_assist.review.units import ReviewUnit


def unit(text: str, name: str = "Bank.withdraw") -> ReviewUnit:
    return ReviewUnit(
        name=name, start=0, end=len(text), first_line=0, text=text, header="", fingerprint="f"
    )


def symbol(name: str, path: str, signature: str, doc: str = "") -> Symbol:
    return Symbol(name, "function", "", signature, doc, path, 0, 1)


WITHDRAW = (
    "def withdraw(self, account, amount):\n"
    "    if not allowed(account):\n"
    "        return withdraw(account, 0)\n"
    "    self.ledger.record(account, -amount)\n"
    "    print(len(self.ledger))\n"
)


def test_called_names_in_order_without_keywords_builtins_or_itself() -> None:
    assert called_names(unit(WITHDRAW)) == ["allowed", "record"]


def test_each_callee_the_workspace_defines_once_or_twice_is_listed_in_call_order() -> None:
    workspace = {
        "allowed": [
            symbol("allowed", "auth.py", "def allowed(account: str) -> bool:", "Not frozen.")
        ],
        "record": [
            symbol("record", "ledger.py", "def record(self, account, delta):"),
            symbol("record", "audit.py", "def record(event):"),
        ],
    }
    block = callee_signatures(unit(WITHDRAW), lambda name: workspace.get(name, []))
    assert block.splitlines() == [
        "auth.py: def allowed(account: str) -> bool:  # Not frozen.",
        "audit.py: def record(event):",
        "ledger.py: def record(self, account, delta):",
    ]


def test_a_name_defined_all_over_the_workspace_says_nothing_and_is_left_out() -> None:
    many = [symbol("allowed", f"m{i}.py", "def allowed():") for i in range(5)]
    assert callee_signatures(unit(WITHDRAW), lambda name: many if name == "allowed" else []) == ""

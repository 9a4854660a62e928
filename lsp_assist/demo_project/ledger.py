"""The ledger: every movement of money, in order, so that balances can be audited."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum


class Kind(Enum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    TRANSFER = "transfer"


@dataclass(frozen=True)
class Transaction:
    """One movement: money into (positive) or out of (negative) an account."""

    account_id: str
    kind: Kind
    amount: Decimal
    at: datetime
    memo: str = ""

    @property
    def is_credit(self) -> bool:
        return self.amount > 0


class Ledger:
    """An append-only list of transactions, with a few questions it can answer."""

    def __init__(self) -> None:
        self._entries: list[Transaction] = []

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Transaction]:
        return iter(self._entries)

    def record(self, account_id: str, kind: Kind, amount: Decimal, memo: str = "") -> Transaction:
        entry = Transaction(account_id, kind, amount, datetime.now(timezone.utc), memo)
        self._entries.append(entry)
        return entry

    def for_account(self, account_id: str) -> list[Transaction]:
        return [entry for entry in self._entries if entry.account_id == account_id]

    def balance_of(self, account_id: str) -> Decimal:
        """The balance the ledger says the account should have."""
        return sum((entry.amount for entry in self.for_account(account_id)), Decimal("0"))

    def since(self, moment: datetime) -> list[Transaction]:
        return [entry for entry in self._entries if entry.at >= moment]

    def total(self, kind: Kind) -> Decimal:
        return sum((entry.amount for entry in self._entries if entry.kind is kind), Decimal("0"))

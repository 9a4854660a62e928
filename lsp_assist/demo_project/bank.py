"""The bank: accounts and the ledger kept in step, and transfers between accounts."""

from __future__ import annotations

from decimal import Decimal

from .accounts import Account, InsufficientFunds, open_account
from .ledger import Kind, Ledger


class UnknownAccount(KeyError):
    """No account has this id."""


class Bank:
    def __init__(self, name: str) -> None:
        self.name = name
        self.ledger = Ledger()
        self._accounts: dict[str, Account] = {}

    def open(self, owner: str, initial: Decimal = Decimal("0")) -> Account:
        account_id = f"{self.name[:3].upper()}-{len(self._accounts) + 1:06d}"
        account = open_account(account_id, owner)
        self._accounts[account_id] = account
        if initial > 0:
            self.deposit(account_id, initial, memo="opening deposit")
        return account

    def account(self, account_id: str) -> Account:
        try:
            return self._accounts[account_id]
        except KeyError:
            raise UnknownAccount(account_id) from None

    def deposit(self, account_id: str, amount: Decimal, memo: str = "") -> Decimal:
        balance = self.account(account_id).deposit(amount)
        self.ledger.record(account_id, Kind.DEPOSIT, amount, memo)
        return balance

    def withdraw(self, account_id: str, amount: Decimal, memo: str = "") -> Decimal:
        balance = self.account(account_id).withdraw(amount)
        self.ledger.record(account_id, Kind.WITHDRAWAL, -amount, memo)
        return balance

    def transfer(self, source_id: str, target_id: str, amount: Decimal) -> None:
        """Moves money between two accounts of this bank, or raises and moves nothing."""
        source, target = self.account(source_id), self.account(target_id)
        if not source.can_withdraw(amount):
            raise InsufficientFunds(source_id, amount, source.available)
        source.withdraw(amount)
        target.deposit(amount)
        self.ledger.record(source_id, Kind.TRANSFER, -amount, f"to {target_id}")
        self.ledger.record(target_id, Kind.TRANSFER, amount, f"from {source_id}")

    def audit(self) -> list[str]:
        """Ids of the accounts whose balance disagrees with the ledger."""
        return [
            account_id
            for account_id, account in self._accounts.items()
            if account.balance != self.ledger.balance_of(account_id)
        ]

    def total_deposits(self) -> Decimal:
        return sum((a.balance for a in self._accounts.values()), Decimal("0"))

"""Bank accounts: a balance that only changes through deposits and withdrawals."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


class InsufficientFunds(Exception):
    """A withdrawal asked for more than the account holds (overdraft included)."""

    def __init__(self, account_id: str, requested: Decimal, available: Decimal) -> None:
        super().__init__(f"{account_id}: requested {requested}, available {available}")
        self.account_id = account_id
        self.requested = requested
        self.available = available


@dataclass
class Account:
    """One customer account, in a single currency."""

    account_id: str
    owner: str
    currency: str = "EUR"
    overdraft_limit: Decimal = Decimal("0")
    _balance: Decimal = field(default=Decimal("0"), repr=False)

    @property
    def balance(self) -> Decimal:
        return self._balance

    @property
    def available(self) -> Decimal:
        """What can still be withdrawn, the overdraft included."""
        return self._balance + self.overdraft_limit

    def _check_positive(self, amount: Decimal) -> None:
        if amount <= 0:
            raise ValueError(f"amount must be positive, got {amount}")

    def deposit(self, amount: Decimal) -> Decimal:
        """Adds money to the account and returns the new balance."""
        self._check_positive(amount)
        self._balance += amount
        return self._balance

    def withdraw(self, amount: Decimal) -> Decimal:
        """Takes money out of the account and returns the new balance."""
        self._check_positive(amount)
        if amount > self.available:
            raise InsufficientFunds(self.account_id, amount, self.available)
        self._balance -= amount
        return self._balance

    def can_withdraw(self, amount: Decimal) -> bool:
        return 0 < amount <= self.available


def open_account(account_id: str, owner: str, initial: Decimal = Decimal("0")) -> Account:
    """A new account, with an optional first deposit."""
    account = Account(account_id=account_id, owner=owner)
    if initial > 0:
        account.deposit(initial)
    return account

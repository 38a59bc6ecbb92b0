"""Wallets: each key's balance, kept in whole micro-dollars so prices like $0.0003 add up exactly."""

from mock_server.errors import InsufficientBalance
from mock_server.settings import Settings

MICROS = 1_000_000


def to_micros(usd: float) -> int:
    return round(usd * MICROS)


class Wallets:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._balances: dict[str, int] = {}

    def _initial(self, key: str) -> int:
        config = self._settings.key_config(key)
        balance = config.balance if config and config.balance is not None else self._settings.default_balance
        return to_micros(balance)

    def _micros(self, key: str) -> int:
        if key not in self._balances:
            self._balances[key] = self._initial(key)
        return self._balances[key]

    def balance(self, key: str) -> float:
        return self._micros(key) / MICROS

    def ensure(self, key: str, usd: float) -> int:
        """The price in micro-dollars; InsufficientBalance if the key cannot pay it."""
        price = to_micros(usd)
        if price > self._micros(key):
            raise InsufficientBalance()
        return price

    def charge(self, key: str, usd: float) -> int:
        price = self.ensure(key, usd)
        self._balances[key] = self._micros(key) - price
        return price

    def set(self, key: str, usd: float) -> None:
        self._balances[key] = to_micros(usd)

    def all(self) -> dict[str, float]:
        keys = set(self._settings.keys) | set(self._balances)
        return {key: self.balance(key) for key in sorted(keys)}

    def reset(self) -> None:
        self._balances.clear()

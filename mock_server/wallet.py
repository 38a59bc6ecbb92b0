"""Wallets: each key's balance, kept in whole micro-dollars so prices like $0.0003 add up exactly."""

from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

from mock_server.errors import InsufficientBalance
from mock_server.settings import Settings
from mock_server.store.records import Charge
from mock_server.store.base import WalletStore

MICROS = 1_000_000


@lru_cache(maxsize=4096)  # prices are few; balances set by hand are rare
def to_micros(usd: float) -> int:
    """Whole micro-dollars, exactly: through the number's shortest decimal form, so $0.0003 is 300 and
    $1e12 is 10**18 (float arithmetic gives 0.1 + 0.2 = 300000.00000000006 micro-dollars)."""
    return int((Decimal(repr(float(usd))) * MICROS).to_integral_value(ROUND_HALF_EVEN))


class Wallets:
    def __init__(self, settings: Settings, store: WalletStore) -> None:
        self._settings = settings
        self._store = store

    def _initial(self, key: str) -> int:
        config = self._settings.key_config(key)
        balance = config.balance if config and config.balance is not None else self._settings.default_balance
        return to_micros(balance)

    async def balance(self, key: str) -> float:
        return await self._store.balance(key, self._initial(key)) / MICROS

    async def ensure(self, key: str, usd: float) -> int:
        """The price in micro-dollars; InsufficientBalance if the key cannot pay it (nothing is taken)."""
        price = to_micros(usd)
        if price > await self._store.balance(key, self._initial(key)):
            raise InsufficientBalance()
        return price

    def charge_of(self, key: str, usd: float) -> Charge:
        """The charge for `usd`, to be taken atomically with the job it pays for (JobService.submit)."""
        return Charge(key, to_micros(usd), self._initial(key))

    async def charge(self, key: str, usd: float) -> int:
        """Take the price atomically; InsufficientBalance if the key cannot pay it."""
        price = to_micros(usd)
        if price and not await self._store.charge(key, price, self._initial(key)):  # free calls touch no store
            raise InsufficientBalance()
        return price

    async def set(self, key: str, usd: float) -> None:
        await self._store.set(key, to_micros(usd))

    async def all(self) -> dict[str, float]:
        stored = await self._store.all()
        keys = set(self._settings.keys) | set(stored)
        return {key: stored.get(key, self._initial(key)) / MICROS for key in sorted(keys)}

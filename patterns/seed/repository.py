"""The seed's MarketRepository (its "Repository Pattern"), as written: legacy Query.get and a
commit inside every method.

(a) Adapted from the seed: only the imports, because this package has no `app`:
`app.models` -> `patterns.models`, `app.schemas.MarketFilters` -> `patterns.repository`.
The rest runs unchanged on SQLAlchemy 2.x, with a LegacyAPIWarning from Query.get.
"""

# ==== (b) The seed's code ("Repository Pattern" in backend-patterns.md), as written ====
# app/repositories/market_repository.py

from typing import Optional
from sqlalchemy.orm import Session
from patterns.models import Market
from patterns.repository import MarketFilters

class MarketRepository:
    def __init__(self, session: Session):
        self._session = session

    def find_all(
        self,
        *,
        filters: Optional[MarketFilters] = None,
        limit: int = 20,
        offset: int = 0
    ) -> list[Market]:
        query = self._session.query(Market)

        if filters is not None and filters.status is not None:
            query = query.filter(Market.status == filters.status)

        return query.offset(offset).limit(limit).all()

    def find_by_id(self, market_id: int) -> Optional[Market]:
        return self._session.query(Market).get(market_id)

    def create(self, data: dict) -> Market:
        market = Market(**data)
        self._session.add(market)
        self._session.commit()
        return market

    def update(self, market_id: int, data: dict) -> Optional[Market]:
        market = self.find_by_id(market_id)
        if market is None:
            return None

        for key, value in data.items():
            setattr(market, key, value)

        self._session.commit()
        return market

    def delete(self, market_id: int) -> bool:
        market = self.find_by_id(market_id)
        if market is None:
            return False

        self._session.delete(market)
        self._session.commit()
        return True
# ==== end of the seed's code ====


# ==== (c) Harness: none; lessons 02 and 03 give it a session ====

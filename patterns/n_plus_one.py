"""N+1 versus eager loading: the loading strategy stated in the query, and a guard against more."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload, raiseload, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from patterns.models import Market

STRATEGIES = ("lazy", "joined", "selectin")


def loader(strategy: str, attribute: Any = Market.creator) -> LoaderOption | None:
    """The loader option for a strategy name; None means the mapping's default (lazy)."""
    options = {"lazy": None, "joined": joinedload, "selectin": selectinload}
    if strategy not in options:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    make = options[strategy]
    return None if make is None else make(attribute)


def markets_query(n: int, strategy: str = "lazy") -> Select[Market]:
    """The first n markets, their creators loaded by the given strategy (stated in the query)."""
    stmt = select(Market).order_by(Market.id).limit(n)
    option = loader(strategy)
    return stmt if option is None else stmt.options(option)


def creator_names(session: Session, n: int, strategy: str = "lazy") -> list[str]:
    """The seed's loop: each market's creator name; 'lazy' is its BAD version, the others GOOD."""
    return [market.creator.name for market in session.scalars(markets_query(n, strategy))]


def strict_markets(session: Session, n: int) -> list[Market]:
    """Markets with their creators, and every other relationship forbidden (raiseload('*'))."""
    # Whatever the template or serializer touches beyond creator fails loudly instead of
    # quietly adding one SELECT per row.
    stmt = markets_query(n, "joined").options(raiseload("*"))
    return list(session.scalars(stmt))

"""The demo-data generator: deterministic, complete, refuses to mix with existing rows."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from patterns.db import get_db
from patterns.demo_data import EPOCH, demo_rows, seed_demo_data
from patterns.models import Market, Position, User


def test_same_rows_for_the_same_n() -> None:
    assert demo_rows(50) == demo_rows(50)
    assert demo_rows(50)["markets"] != demo_rows(50, seed=7)["markets"]


def test_counts_and_shapes() -> None:
    rows = demo_rows(30)
    assert len(rows["users"]) == 30 and len(rows["markets"]) == 30 and len(rows["positions"]) == 90
    assert [m["creator_id"] for m in rows["markets"]] == list(range(1, 31))
    assert all(m["created_at"] >= EPOCH and m["closes_at"] > m["created_at"]
               for m in rows["markets"])
    assert {u["role"].value for u in rows["users"]} == {"admin", "user"}


def test_database_holds_exactly_the_generated_rows(app: Flask) -> None:
    expected = demo_rows(20)
    with get_db(app).new_session() as session:
        names = session.scalars(select(Market.name).order_by(Market.id)).all()
        assert names == [m["name"] for m in expected["markets"]]
        assert session.scalar(select(func.count()).select_from(Position)) == 60
        first = session.get(Market, 1)
        assert first.volume == expected["markets"][0]["volume"]
        assert first.created_at == expected["markets"][0]["created_at"]  # aware UTC round trip


def test_refuses_tables_that_already_hold_rows(app: Flask) -> None:
    with get_db(app).new_session() as session, pytest.raises(ValueError, match="empty tables"):
        seed_demo_data(session, 5)
    with get_db(app).new_session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 20

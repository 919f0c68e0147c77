"""projection.*, pagination.*, bulk_insert.*: lesson 05's figures at the sizes the issue names."""

from __future__ import annotations

from evidence import query_optimization as trials
from evidence.lab import lesson_app
from patterns import query_optimization as qo
from patterns.db import get_db


def figures(quick: bool = False) -> dict[str, float | int]:
    """Projection of 10,000 rows, pagination over 100,000, bulk insert of 10,000 (quick: less)."""
    table_rows, projected, bulk = (20_000, 5_000, 1_000) if quick else (100_000, 10_000, 10_000)
    app = lesson_app(rows=0)
    db = get_db(app)
    try:
        with db.new_session() as session:
            trials.seed_markets(session, table_rows)
            qo.analyze(session)
        projection = trials.projection_speedup(db.new_session, rows=projected, repeat=5)
        with db.new_session() as session:
            before = qo.explain(session, qo.hot_query())
            qo.create_hot_index(session)
            after = qo.explain(session, qo.hot_query())
            qo.drop_hot_index(session)  # bulk inserts below should not pay for it
            costs = trials.pagination_costs(session, trials.depths_for(table_rows), repeat=9)
        per_row = trials.bulk_insert(db.new_session, bulk, ["commit per row"])
        batched = trials.bulk_insert(db.new_session, bulk, list(trials.BULK_STRATEGIES)[1:],
                                     repeat=3)
    finally:
        db.close()
    runs = per_row | batched
    fast = runs["insert() + dicts"]
    return {
        "projection.rows": projected,
        "projection.speedup": round(projection.speedup, 2),
        "index.uses_index_before": int(before.uses_index),
        "index.uses_index_after": int(after.uses_index),
        "pagination.rows": table_rows,
        "pagination.deepest_offset": costs[-1].depth,
        "pagination.offset_over_keyset_deep": round(costs[-1].ratio, 2),
        "pagination.offset_over_keyset_first": round(costs[0].ratio, 2),
        "bulk_insert.rows": bulk,
        "bulk_insert.per_row_statements": runs["commit per row"].statements,
        "bulk_insert.add_all_statements": runs["add_all"].statements,
        "bulk_insert.insert_statements": fast.statements,
        "bulk_insert.speedup": round(runs["add_all"].seconds / fast.seconds, 2),
        "bulk_insert.per_row_speedup": round(runs["commit per row"].seconds / fast.seconds, 2),
        # The top of the ladder (COPY on PostgreSQL, the driver's executemany on SQLite).
        "bulk_insert.fastest_speedup": round(runs["add_all"].seconds
                                             / runs["fastest path"].seconds, 2),
    }

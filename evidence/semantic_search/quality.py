"""Search quality: precision@5 of the service's semantic search and of LIKE on labelled queries."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from patterns.db import get_db
from patterns.demo_data import TOPICS
from patterns.models import Market
from patterns.semantic_search import Embedder, HashingEmbedder, MarketSearch
from patterns.service_layer import MarketService
from patterns.unit_of_work import SqlAlchemyUnitOfWork

# 480 demo markets: 80 per topic, about 10 per (question, subject) pair, so every query below
# has at least 5 relevant markets and precision@5 can reach 1.0.
SEARCH_DEMO_ROWS = 480
K = 5


@dataclass(frozen=True)
class LabelledQuery:
    """A query as a user would type it, and which markets answer it (by the generator's facets)."""

    text: str
    topic: str | None = None
    question: str | None = None  # a template of demo_data.TOPICS, e.g. "Will {s} reach the final?"
    subject: str | None = None

    def relevant(self, facets: Facets) -> bool:
        """Whether a market with these facets answers the query."""
        pairs = ((self.topic, facets.topic), (self.question, facets.question),
                 (self.subject, facets.subject))
        return all(want is None or want == have for want, have in pairs)


# Written once, before any measurement, and not tuned afterwards. Five are plain keywords, where
# LIKE is at its best; the rest say what a reader means in words the market names do not use.
LABELLED_QUERIES: tuple[LabelledQuery, ...] = (
    LabelledQuery("Bitcoin", subject="Bitcoin"),
    LabelledQuery("Kenya", subject="Kenya"),
    LabelledQuery("ECB", subject="the ECB"),
    LabelledQuery("election", topic="elections"),
    LabelledQuery("championship", question="Will {s} win the championship?"),
    LabelledQuery("cryptocurrency", topic="crypto"),
    LabelledQuery("crypto ETF", question="Will {s} ETF inflows exceed forecasts?"),
    LabelledQuery("exchange-traded fund flows", question="Will {s} ETF inflows exceed forecasts?"),
    LabelledQuery("Ethereum hitting a new annual peak",
                  question="Will {s} close above its yearly high?", subject="Ethereum"),
    LabelledQuery("who wins the presidential vote", question="Will {s} win the general election?"),
    LabelledQuery("voter participation above seventy percent",
                  question="Will turnout exceed 70% in {s}?"),
    LabelledQuery("Real Madrid title", question="Will {s} win the championship?",
                  subject="Real Madrid"),
    LabelledQuery("Celtics make it to the finals", question="Will {s} reach the final?",
                  subject="the Boston Celtics"),
    LabelledQuery("heat wave", question="Will {s} have a heatwave in July?"),
    LabelledQuery("heavy rain in Mumbai", question="Will {s} see record rainfall this year?",
                  subject="Mumbai"),
    LabelledQuery("Chicago weather", topic="weather", subject="Chicago"),
    LabelledQuery("new iPhone launch", question="Will {s} ship a new flagship device?",
                  subject="Apple"),
    LabelledQuery("quantum computing", question="Will {s} announce a quantum chip?"),
    LabelledQuery("central bank lowers interest rates",
                  question="Will {s} cut interest rates this quarter?"),
    LabelledQuery("inflation under two percent in Canada",
                  question="Will {s} inflation fall below 2%?", subject="Canada"),
)


@dataclass(frozen=True)
class Facets:
    """What the demo generator chose for a market: topic, question template and subject."""

    topic: str
    question: str
    subject: str


def _template_patterns() -> list[tuple[re.Pattern[str], str, str]]:
    out = []
    for topic, templates, _subjects in TOPICS:
        for template in templates:
            head, tail = (re.escape(part) for part in template.split("{s}"))
            out.append((re.compile(rf"^{head}(?P<s>.+){tail} #\d+$"), topic, template))
    return out


_PATTERNS = _template_patterns()


def facets(name: str) -> Facets:
    """The facets of a demo market, read back from its name."""
    for pattern, topic, template in _PATTERNS:
        match = pattern.match(name)
        if match:
            return Facets(topic, template, match.group("s"))
    raise ValueError(f"not a demo market name: {name!r}")


def like_search(session: Session, query: str, limit: int = K) -> list[Market]:
    """The plain search a team writes first: name or description LIKE %query%, in id order."""
    # icontains escapes % and _ in the query (autoescape) and ignores case on both backends.
    stmt = (select(Market).where(or_(Market.name.icontains(query, autoescape=True),
                                     Market.description.icontains(query, autoescape=True)))
            .order_by(Market.id).limit(limit))
    return list(session.scalars(stmt))


def precision_at_k(found: Sequence[bool], k: int = K) -> float:
    """The share of the first k results that are relevant (missing results count as misses)."""
    return sum(found[:k]) / k


@dataclass(frozen=True)
class QueryScore:
    """One labelled query: how many relevant markets exist, and precision@5 of each method."""

    query: str
    relevant: int
    semantic: float
    like: float


@dataclass(frozen=True)
class SearchEvaluation:
    """Per-query scores and their means."""

    queries: list[QueryScore]

    @property
    def precision_at_5(self) -> float:
        """Mean precision@5 of semantic search."""
        return statistics.fmean(q.semantic for q in self.queries)

    @property
    def like_precision_at_5(self) -> float:
        """Mean precision@5 of the LIKE search."""
        return statistics.fmean(q.like for q in self.queries)


def evaluate_search(app: Flask, queries: Sequence[LabelledQuery] = LABELLED_QUERIES, *,
                    embedder: Embedder | None = None, words_first: bool = True) -> SearchEvaluation:
    """Run every labelled query through the service's search (words_first=False: cosine alone)
    and through LIKE; score both."""
    search = MarketSearch(embedder or HashingEmbedder(), words_first=words_first)
    with app.app_context(), get_db(app).new_session() as session:
        service = MarketService(SqlAlchemyUnitOfWork(session), search=search)
        labels = {m.id: facets(m.name) for m in session.scalars(select(Market))}
        scores = []
        for q in queries:
            semantic = [labels[r.market.id] for r in service.search_markets(q.text, limit=K)]
            like = [labels[m.id] for m in like_search(session, q.text, K)]
            scores.append(QueryScore(
                q.text, sum(q.relevant(f) for f in labels.values()),
                precision_at_k([q.relevant(f) for f in semantic]),
                precision_at_k([q.relevant(f) for f in like])))
    return SearchEvaluation(scores)

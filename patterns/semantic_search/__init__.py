"""Semantic search: embedders, an exact vector index, the stored (versioned) index and each
process's cache of it."""

from patterns.semantic_search.embedders import (
    STOP_WORDS,
    Embedder,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    document,
    embedder_name,
    words,
)
from patterns.semantic_search.index import Hit, VectorIndex
from patterns.semantic_search.lexical import WordIndex
from patterns.semantic_search.search import EXTENSION, MarketSearch, market_search
from patterns.semantic_search.store import (
    STORED_DTYPE,
    EmbeddingStore,
    InMemoryEmbeddingStore,
    SqlEmbeddingStore,
    StoredVectors,
)

__all__ = [
    "EXTENSION", "STOP_WORDS", "STORED_DTYPE", "Embedder", "EmbeddingStore", "HashingEmbedder",
    "Hit", "InMemoryEmbeddingStore", "MarketSearch", "SentenceTransformerEmbedder",
    "SqlEmbeddingStore", "StoredVectors", "VectorIndex", "WordIndex", "document", "embedder_name",
    "market_search", "words",
]

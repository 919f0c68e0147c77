"""The seed's snippets (backend-patterns.md), kept runnable so each lesson can show their bugs.

(a) Every module here has three marked parts: a docstring naming what was adapted from the seed
and why; the seed's code, as the seed wrote it (its text, bugs and dated idioms; ruff is told to
leave it alone); and the harness that runs it. harness.py builds the bare app they share. Some
modules fail on import by design (caching_at_import.py): they are the lessons' evidence.
"""

# ==== (b) The seed's code: none in this file ====

# ==== (c) Harness: none in this file ====

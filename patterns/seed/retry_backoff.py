"""The seed's retry decorator (its "Retry with Exponential Backoff"), as written; do not use it.

(a) Adapted from the seed: nothing; the decorator runs as it stands (lesson 10 patches its
time.sleep). The seed's "# Usage" lines are left out: they call a real URL with requests.
"""

# ==== (b) The seed's code ("Retry with Exponential Backoff", backend-patterns.md), as written ====
import time
from functools import wraps
from typing import Callable, TypeVar

T = TypeVar('T')

def retry_with_backoff(
    max_retries: int = 3,
    base_delay: float = 1.0,
    max_delay: float = 30.0
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator for retry with exponential backoff."""
    def decorator(f: Callable[..., T]) -> Callable[..., T]:
        @wraps(f)
        def decorated(*args, **kwargs) -> T:
            last_error = None

            for attempt in range(max_retries):
                try:
                    return f(*args, **kwargs)
                except Exception as e:
                    last_error = e

                    if attempt < max_retries - 1:
                        delay = min(base_delay * (2 ** attempt), max_delay)
                        time.sleep(delay)

            raise last_error

        return decorated
    return decorator
# ==== end of the seed's code ====


# ==== (c) Harness: none; lesson 10 decorates its own functions ====

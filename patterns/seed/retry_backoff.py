"""The seed's retry decorator, as written (lesson 10 shows its pitfalls; do not use it)."""

import time
from functools import wraps
from typing import Callable, TypeVar  # noqa: UP035 - the seed's import, as written

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

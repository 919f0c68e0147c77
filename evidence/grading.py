"""Grading a learner's answer: a check raises WrongAnswer saying what was expected, what came."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

HINT_POINTER = "(stuck? open the hints below the check cell)"


class WrongAnswer(Exception):
    """The learner's answer is wrong: the message says what was expected and what came back."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}\n{HINT_POINTER}")
        self.reason = message  # without the pointer: what `make check` prints on one line


def expect(condition: bool, expected: str, got: str) -> None:
    """Raise WrongAnswer("expected ...; got ...") unless condition holds."""
    if not condition:
        raise WrongAnswer(f"expected {expected}; {got}")


def call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run the learner's code; its exceptions become WrongAnswer in the learner's terms."""
    if not callable(fn):
        raise WrongAnswer(f"expected {what} to be a function or class; got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except WrongAnswer:
        raise
    except NotImplementedError as exc:
        detail = f" ({exc})" if str(exc) else ""
        raise WrongAnswer(f"{what} is not written yet{detail}: replace the stub's "
                          "`raise NotImplementedError` with your code") from None
    except Exception as exc:  # the learner's bug, told in one line rather than a traceback
        raise WrongAnswer(f"{what} raised {type(exc).__name__}: {exc}") from None


def expect_raises(what: str, error: type[BaseException], expected: str, fn: Callable[..., Any],
                  *args: Any, returned: str = "got no error") -> BaseException:
    """Run the learner's code where it must raise `error`; anything else is a WrongAnswer."""
    try:
        fn(*args)
    except error as exc:
        return exc
    except NotImplementedError:
        raise WrongAnswer(f"{what} is not written yet: replace the stub's "
                          "`raise NotImplementedError` with your code") from None
    except Exception as exc:
        raise WrongAnswer(f"expected {expected}; your {what} raised "
                          f"{type(exc).__name__}: {exc}") from None
    raise WrongAnswer(f"expected {expected}; {returned}")


def passed(message: str) -> None:
    """Tell the learner the check passed, in one line."""
    print(f"✓ {message}")

"""The grading helpers: a wrong answer is told in the learner's terms, never as a traceback."""

from __future__ import annotations

import pytest

from evidence.grading import HINT_POINTER, WrongAnswer, call, expect, expect_raises, passed


def test_expect_says_what_was_expected_and_what_came_back() -> None:
    expect(True, "2 statements", "got 2")
    with pytest.raises(WrongAnswer) as info:
        expect(False, "2 statements", "your load_book sent 101")
    assert info.value.reason == "expected 2 statements; your load_book sent 101"
    assert str(info.value).endswith(HINT_POINTER)


def test_call_turns_the_stub_into_not_written_yet() -> None:
    def stub() -> None:
        raise NotImplementedError("your code here")

    with pytest.raises(WrongAnswer, match="load_book is not written yet"):
        call("load_book", stub)


def test_call_turns_a_learners_bug_into_one_line() -> None:
    with pytest.raises(WrongAnswer, match=r"load_book raised TypeError: boom"):
        call("load_book", lambda: (_ for _ in ()).throw(TypeError("boom")))
    with pytest.raises(WrongAnswer, match="expected load_book to be a function"):
        call("load_book", None)  # type: ignore[arg-type]
    assert call("load_book", lambda x: x * 2, 21) == 42


def test_passed_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    passed("position_totals: 1 recompute, then hits")
    assert capsys.readouterr().out == "✓ position_totals: 1 recompute, then hits\n"


def test_expect_raises_tells_the_stub_another_error_and_no_error_apart() -> None:
    def stub() -> None:
        raise NotImplementedError

    assert isinstance(expect_raises("close", ValueError, "ValueError", _raise(ValueError("x"))),
                      ValueError)
    with pytest.raises(WrongAnswer, match="close is not written yet"):
        expect_raises("close", ValueError, "ValueError", stub)
    with pytest.raises(WrongAnswer, match=r"expected ValueError; your close raised KeyError"):
        expect_raises("close", ValueError, "ValueError", _raise(KeyError("k")))
    with pytest.raises(WrongAnswer) as info:
        expect_raises("close", ValueError, "ValueError", lambda: None)
    assert info.value.reason == "expected ValueError; got no error"


def _raise(error: Exception):
    def fn() -> None:
        raise error
    return fn

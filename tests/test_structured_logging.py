"""Lesson 12: JSON log lines, request ids in and out and into jobs, structlog's equivalent."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from flask import Flask, has_app_context, has_request_context, request
from flask.testing import FlaskClient

from evidence.grading import WrongAnswer
from evidence.structured_logging import check_app_formatter
from patterns import structured_logging as sl
from patterns.seed.structured_logging import StructuredFormatter

EPOCH = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def record(message: str = "hello", **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("patterns.jobs", logging.INFO, __file__, 1, message, None, None)
    rec.created = EPOCH
    rec.__dict__.update(extra)
    return rec


def test_a_line_outside_any_request_has_the_four_base_fields() -> None:
    line = json.loads(sl.JsonFormatter().format(record()))
    assert line == {"timestamp": "2026-01-01T00:00:00.000Z", "level": "INFO",
                    "logger": "patterns.jobs", "message": "hello"}


def test_the_timestamp_is_iso_8601_utc() -> None:
    stamp = json.loads(sl.JsonFormatter().format(record()))["timestamp"]
    assert datetime.fromisoformat(stamp) == datetime(2026, 1, 1, tzinfo=UTC)


def test_extra_fields_and_exceptions_are_fields_and_a_line_stays_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = record("two\nlines", market_id=7)
        rec.exc_info = sys.exc_info()
    text = sl.JsonFormatter().format(rec)
    assert "\n" not in text
    line = json.loads(text)
    assert line["market_id"] == 7 and line["message"] == "two\nlines"
    assert line["exception"].startswith("Traceback") and "ValueError: boom" in line["exception"]


def test_the_seed_formatter_fails_outside_an_app_context() -> None:
    with pytest.raises(RuntimeError, match="application context"):
        StructuredFormatter().format(record())


def test_through_logging_the_seed_formatter_loses_the_line() -> None:
    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(StructuredFormatter())
    logger = logging.getLogger("test.seed.lost")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with contextlib.redirect_stderr(err):
            logger.warning("nightly cleanup started")
    finally:
        logger.removeHandler(handler)
    assert out.getvalue() == ""
    assert "--- Logging error ---" in err.getvalue()


# ---- inside requests ----

def test_a_request_logs_one_access_line_with_every_field(app: Flask, client: FlaskClient) -> None:
    ticks = iter([10.0, 10.0125])
    app.extensions["structured_logging"]["clock"] = lambda: next(ticks)
    with sl.capture_logs() as lines:
        response = client.get("/api/markets/1", headers={"X-Request-ID": "lesson-12"})
    (line,) = sl.parse_lines(lines)
    assert response.headers["X-Request-ID"] == "lesson-12"
    assert {k: line[k] for k in ("level", "logger", "message", "request_id", "method", "path",
                                  "status", "duration_ms")} == {
        "level": "INFO", "logger": "patterns.request", "message": "request finished",
        "request_id": "lesson-12", "method": "GET", "path": "/api/markets/1", "status": 200,
        "duration_ms": 12.5}
    assert "user_id" not in line


def test_user_id_appears_after_authentication(client: FlaskClient, auth) -> None:
    with sl.capture_logs() as lines:
        client.delete("/api/markets/2", headers=auth.headers("user2@example.com"))
    (line,) = sl.parse_lines(lines)
    assert line["user_id"] == 2 and line["status"] == 204


def test_a_failed_token_is_logged_with_its_reason_but_no_user(client: FlaskClient) -> None:
    with sl.capture_logs() as lines:
        client.delete("/api/markets/2", headers={"Authorization": "Bearer a.b.c"})
    rejected, finished = sl.parse_lines(lines)
    assert rejected["message"] == "token rejected" and rejected["reason"] == "DecodeError"
    assert finished["status"] == 401 and "user_id" not in finished
    assert rejected["request_id"] == finished["request_id"]


@pytest.mark.parametrize("incoming", ["", "has space", 'quo"te', "x" * 129, "ünïcode", "a;b"])
def test_a_malformed_incoming_id_is_replaced(client: FlaskClient, incoming: str) -> None:
    response = client.get("/api/health", headers={"X-Request-ID": incoming} if incoming else {})
    rid = response.headers["X-Request-ID"]
    assert rid != incoming and len(rid) == 32 and int(rid, 16) >= 0


@pytest.mark.parametrize("incoming", ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e",
                                      "Root:1-5759e988.bd862e3f_x", "x" * 128])
def test_a_well_formed_incoming_id_is_kept(client: FlaskClient, incoming: str) -> None:
    assert client.get("/api/health", headers={"X-Request-ID": incoming}).headers[
        "X-Request-ID"] == incoming


def test_control_characters_are_never_well_formed() -> None:
    assert not any(sl.is_well_formed(f"id{c}x") for c in "\n\r\t\x00")


def test_each_request_gets_its_own_generated_id(client: FlaskClient) -> None:
    ids = {client.get("/api/health").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


def test_error_responses_carry_the_id_too(client: FlaskClient) -> None:
    response = client.get("/api/nope", headers={"X-Request-ID": "err-1"})
    assert response.status_code == 404 and response.headers["X-Request-ID"] == "err-1"


# ---- the API for background jobs ----

def test_current_request_id_inside_and_outside_a_request(app: Flask) -> None:
    assert sl.current_request_id() is None
    with app.test_request_context("/api/health", headers={"X-Request-ID": "in-req"}):
        app.preprocess_request()
        assert sl.current_request_id() == "in-req"
    assert sl.current_request_id() is None


def test_bind_request_id_carries_an_id_into_a_job_and_resets() -> None:
    with sl.capture_logs() as lines, sl.bind_request_id("from-request") as rid:
        logging.getLogger("patterns.jobs").info("indexing market", extra={"market_id": 3})
        assert rid == sl.current_request_id() == "from-request"
    assert sl.current_request_id() is None
    (line,) = sl.parse_lines(lines)
    assert line["request_id"] == "from-request" and line["market_id"] == 3
    assert "method" not in line  # a job has no HTTP request


def test_bind_request_id_replaces_a_missing_or_malformed_id() -> None:
    with sl.bind_request_id(None) as first, sl.bind_request_id("bad id\n") as second:
        assert len(first) == 32 and len(second) == 32 and first != second


def test_bind_task_id_adds_a_task_id_field_and_resets() -> None:
    jobs = logging.getLogger("patterns.jobs")
    with sl.capture_logs() as lines:
        with sl.bind_request_id("req-7"), sl.bind_task_id("task-7"):
            jobs.info("inside")
        jobs.info("after")
    inside, after = sl.parse_lines(lines)
    assert inside["task_id"] == "task-7" and inside["request_id"] == "req-7"
    assert "task_id" not in after and "request_id" not in after


# ---- configuration ----

def _workbook_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger(sl.PACKAGE_LOGGER).handlers
            if h.get_name() == sl.HANDLER_NAME]


def test_many_apps_still_mean_one_handler(app: Flask, make_app) -> None:
    make_app(DEMO_ROWS=0)
    assert len(_workbook_handlers()) == 1
    assert isinstance(_workbook_handlers()[0], logging.NullHandler)  # tests print nothing


def test_outside_tests_lines_go_to_a_stream_as_json(make_app) -> None:
    stream = io.StringIO()
    app = make_app(DEMO_ROWS=0, LOG_JSON=True)
    try:
        sl.configure_logging(app, stream)
        app.test_client().get("/api/health", headers={"X-Request-ID": "served"})
    finally:
        make_app(DEMO_ROWS=0)  # back to the quiet handler
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["request_id"] == "served" and line["status"] == 200


def test_structlog_produces_the_same_fields(app: Flask, client: FlaskClient) -> None:
    with sl.capture_logs() as ours:
        client.get("/api/markets/1", headers={"X-Request-ID": "same"})
    with sl.capture_logs(formatter=sl.structlog_formatter()) as theirs:
        client.get("/api/markets/1", headers={"X-Request-ID": "same"})
    (a,), (b,) = sl.parse_lines(ours), sl.parse_lines(theirs)
    assert set(a) == set(b)
    for key in ("level", "logger", "message", "request_id", "method", "path", "status"):
        assert a[key] == b[key], key
    assert datetime.fromisoformat(b["timestamp"]).utcoffset().total_seconds() == 0


@pytest.fixture
def native_structlog() -> Iterator[None]:
    sl.configure_structlog()
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def test_native_structlog_events_get_the_same_fields(
        app: Flask, native_structlog: None) -> None:
    with sl.capture_logs(formatter=sl.structlog_formatter()) as native:
        with structlog.contextvars.bound_contextvars(request_id="job-7"):
            structlog.get_logger("patterns.jobs").info("market indexed", market_id=3)
        structlog.get_logger("patterns.jobs").warning("after the block")
    first, second = sl.parse_lines(native)
    assert {k: v for k, v in first.items() if k != "timestamp"} == {
        "level": "INFO", "logger": "patterns.jobs", "message": "market indexed",
        "market_id": 3, "request_id": "job-7"}
    assert datetime.fromisoformat(first["timestamp"]).utcoffset().total_seconds() == 0
    assert "request_id" not in second and second["level"] == "WARNING"  # unbound after it


def test_native_structlog_inside_a_request_carries_its_fields(
        app: Flask, native_structlog: None) -> None:
    with sl.capture_logs(formatter=sl.structlog_formatter()) as native, \
            app.test_request_context("/api/markets/4", headers={"X-Request-ID": "req-4"}):
        app.preprocess_request()
        structlog.get_logger("patterns.markets").info("market read", market_id=4)
    (line,) = sl.parse_lines(native)
    assert (line["request_id"], line["method"], line["path"]) == ("req-4", "GET", "/api/markets/4")


def test_the_seed_stamp_parses_but_has_no_offset() -> None:
    record = logging.LogRecord("seed.jobs", logging.INFO, "jobs.py", 1, "done", None, None)
    stamp = datetime.fromisoformat(StructuredFormatter().formatTime(record))  # comma and all
    assert stamp.utcoffset() is None  # local time, no zone: the defect
    assert datetime.fromisoformat(sl.iso_utc(record.created)).utcoffset().total_seconds() == 0


# ---- the exercise check ----

class AppFormatter(sl.JsonFormatter):
    """The reference answer, as in the notebook."""

    def format(self, record: logging.LogRecord) -> str:
        line = json.loads(super().format(record))
        line["service"] = "markets"
        if has_request_context():
            line["user_agent"] = request.headers.get("User-Agent", "")
        return json.dumps(line)


class MergingFormatter(sl.JsonFormatter):
    """Correct, written differently: one merged dict, werkzeug's parsed user agent."""

    def format(self, record: logging.LogRecord) -> str:
        extra: dict[str, object] = {"service": "markets"}
        if has_request_context():
            extra |= {"user_agent": request.user_agent.string}
        return json.dumps(json.loads(super().format(record)) | extra, ensure_ascii=False)


class ChecksTheAppContext(sl.JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        line = json.loads(super().format(record))
        line["service"] = "markets"
        if has_app_context():  # a Celery task has one, and no request
            line["user_agent"] = request.headers.get("User-Agent", "")
        return json.dumps(line)


class ReadsTheRequestAlways(sl.JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        line = json.loads(super().format(record))
        line.update(service="markets", user_agent=request.headers.get("User-Agent", ""))
        return json.dumps(line)


class GluesStrings(sl.JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)[:-1] + ', "service": "markets"'
        if has_request_context():
            text += f', "user_agent": "{request.headers.get("User-Agent", "")}"'
        return text + "}"


class RebuildsTheLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"timestamp": self.formatTime(record), "level": record.levelname,
                "message": record.getMessage(), "service": "markets"}
        if has_request_context():
            line["user_agent"] = request.headers.get("User-Agent", "")
        return json.dumps(line)


class PrettyPrints(AppFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(json.loads(super().format(record)), indent=2)


class NullUserAgent(sl.JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        line = json.loads(super().format(record))
        line["service"] = "markets"
        line["user_agent"] = request.headers.get("User-Agent") if has_request_context() else None
        return json.dumps(line)


class ServiceInRequestsOnly(sl.JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        line = json.loads(super().format(record))
        if has_request_context():
            line.update(service="markets", user_agent=request.headers.get("User-Agent", ""))
        return json.dumps(line)


class StubFormatter(sl.JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        raise NotImplementedError("your code here: add service, and user_agent in a request")


@pytest.mark.parametrize("answer", [AppFormatter, MergingFormatter])
def test_the_formatter_check_accepts_correct_answers(
        app: Flask, answer: type, capsys: pytest.CaptureFixture[str]) -> None:
    check_app_formatter(answer, app)
    assert capsys.readouterr().out.startswith("✓ AppFormatter: service on every line")


@pytest.mark.parametrize("wrong, message", [
    (StubFormatter, r"AppFormatter\(\).format \(on a line logged outside any app context\) is "
                    "not written yet"),
    (ChecksTheAppContext, r"expected a line logged in a job \(an app context, no request\); "
                          r"your format raised RuntimeError: Working outside of request "
                          r"context. Ask has_request_context\(\) before reading request"),
    (ReadsTheRequestAlways, r"expected a line logged outside any app context; your format raised "
                            "RuntimeError: Working outside of request context"),
    (GluesStrings, r"expected one JSON object per line \(inside a request\); yours does not "
                   r"parse .* build a dict and json.dumps it"),
    (RebuildsTheLine, r"expected every field of JsonFormatter's line unchanged \(outside any app "
                      r"context\): .*; yours differs in logger: 'patterns.jobs' became "
                      r"'<missing>'; market_id: 7 became '<missing>'; timestamp: "
                      r"'2026-01-01T12:30:00.000Z' became '2026-01-01 "),
    (PrettyPrints, r"expected one line per record \(outside any app context\); your line spans "
                   r"\d+ lines"),
    (NullUserAgent, "expected no user_agent field outside any app context: there is no request; "
                    "got user_agent None"),
    (ServiceInRequestsOnly, r"expected \"service\": \"markets\" on every line \(outside any app "
                            r"context\); got service '<missing>'"),
])
def test_the_formatter_check_rejects_plausible_wrong_answers(
        app: Flask, wrong: type, message: str) -> None:
    with pytest.raises(WrongAnswer, match=message):
        check_app_formatter(wrong, app)


def test_the_formatter_check_rejects_the_notebook_stub(app: Flask) -> None:
    path = Path(__file__).parents[1] / "notebooks" / "12_structured_logging.ipynb"
    cell = next(c for c in json.loads(path.read_text())["cells"]
                if "solution" in c["metadata"].get("tags", []))
    namespace: dict[str, object] = {"sl": sl, "logging": logging, "json": json}
    exec(cell["metadata"]["workbook"]["stub"], namespace)
    with pytest.raises(WrongAnswer, match="not written yet"):
        check_app_formatter(namespace["AppFormatter"], app)  # type: ignore[arg-type]

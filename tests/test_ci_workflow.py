"""The GitHub workflow and .ci/run: valid, and every step runs a target the Makefile has."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
MAKE_CALL = re.compile(r"(?<![\w-])make\s+((?:[\w-]+=\S+\s+)*)([a-z][\w-]*)")


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))


def workflow() -> dict[str, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def run_lines(job: dict[str, Any]) -> list[str]:
    return [line for step in job["steps"] for line in str(step.get("run", "")).splitlines()]


def make_targets_called(lines: list[str]) -> list[str]:
    """The target of each `make ...` call (variables like VENV=... skipped)."""
    return [m[2] for line in lines if not line.lstrip().startswith("#")
            for m in MAKE_CALL.finditer(line)]


def test_the_workflow_matches_githubs_schema() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run([str(checker), "--builtin-schema", "vendor.github-workflows",
                           str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_workflow_is_caught(tmp_path: Path) -> None:
    """The schema check can fail: a step with neither `run` nor `uses` is rejected."""
    broken = workflow()
    broken["jobs"]["test"]["steps"].append({"name": "nothing to do"})
    (tmp_path / "ci.yml").write_text(yaml.safe_dump(broken))
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run([str(checker), "--builtin-schema", "vendor.github-workflows",
                           str(tmp_path / "ci.yml")], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0


def test_every_make_call_in_the_workflow_is_a_makefile_target() -> None:
    targets = makefile_targets()
    called = {name: make_targets_called(run_lines(job))
              for name, job in workflow()["jobs"].items()}
    unknown = {name: [t for t in calls if t not in targets] for name, calls in called.items()}
    assert not any(unknown.values()), f"not Makefile targets: {unknown}"
    every = {t for calls in called.values() for t in calls}
    assert {"test", "test-real", "test-browser", "doctor", "site"} <= every, every
    for name, job in workflow()["jobs"].items():  # a job does its work through the Makefile
        assert called[name], f"job {name} calls no make target"
        assert all("pytest" not in line for line in run_lines(job)), f"{name} calls pytest"


def test_make_test_and_test_real_run_on_the_three_pythons() -> None:
    jobs = workflow()["jobs"]
    for name in ("test", "real"):
        assert jobs[name]["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
        setup = next(s for s in jobs[name]["steps"]
                     if str(s.get("uses", "")).startswith("actions/setup-python"))
        assert setup["with"]["python-version"] == "${{ matrix.python }}"


def test_the_real_services_are_the_ones_make_test_real_expects() -> None:
    services = workflow()["jobs"]["real"]["services"]
    assert services["postgres"]["env"] == {"POSTGRES_HOST_AUTH_METHOD": "trust",
                                           "POSTGRES_DB": "test"}
    makefile = (ROOT / "Makefile").read_text()
    for service, port in (("postgres", 5432), ("redis", 6379), ("rabbitmq", 5672)):
        assert services[service]["ports"] == [f"{port}:{port}"]
        assert "--health-cmd" in services[service]["options"]
    assert "PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test" in makefile
    assert "REAL_REDIS_URL  ?= redis://127.0.0.1:6379/0" in makefile


def test_uv_downloads_are_cached_by_the_lock() -> None:
    for name, job in workflow()["jobs"].items():
        caches = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/cache")]
        assert caches, f"job {name} does not cache uv's downloads"
        assert caches[0]["with"]["path"] == workflow()["env"]["UV_CACHE_DIR"]
        assert "hashFiles('constraints.txt'" in caches[0]["with"]["key"]


def test_the_browser_job_uses_playwrights_chromium_not_the_snap() -> None:
    job = workflow()["jobs"]["browser"]
    lines = "\n".join(run_lines(job))
    assert "playwright install --with-deps chromium" in lines
    assert "WORKBOOK_CHROMIUM=" in lines and "apt-get install" not in lines


def test_ci_run_calls_only_makefile_targets() -> None:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    called = make_targets_called([line for line in lines if not line.lstrip().startswith("echo")])
    assert called and not [t for t in called if t not in makefile_targets()], called

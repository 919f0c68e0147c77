"""Every lesson in JupyterLab, as a learner runs it: Restart Kernel and Run All, then a save.

Driven through JupyterLab's own commands and models (window.jupyterapp, exposed by
--LabApp.expose_app_in_browser), in headless Chromium. `make test-browser` runs it.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent

LESSONS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXERCISE_LESSON = "12_structured_logging.ipynb"  # its check runs in well under a second
RAISES = "raises-exception"
RUN_TIMEOUT_MS = 240_000

# The lesson's notebook panel, once its file is loaded and its kernel connected.
CURRENT = "window.workbookPanel"  # set by open_notebook
READY = f"""(path) => {{ const w = {CURRENT};
  return !!(w && w.context && w.context.path === path && w.context.isReady && w.content.model
    && w.sessionContext.session && w.sessionContext.session.kernel
    && w.sessionContext.kernelDisplayStatus === 'idle'); }}"""
STATE = f"""() => {{ const w = {CURRENT};
  if (!w) return 'no current widget';
  const s = w.sessionContext;
  return {{path: w.context && w.context.path, ready: w.context && w.context.isReady,
           kernel: s && s.session ? s.session.kernel && s.session.kernel.name : null,
           status: s ? s.kernelDisplayStatus : null}}; }}"""
# Every code cell: its execution count, tags, outputs (type, mime types, error name and value).
CELLS = f"""() => {{ const w = {CURRENT}; const cells = w.content.model.cells; const out = [];
  for (let i = 0; i < cells.length; i++) {{
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    const outputs = [];
    for (let j = 0; j < c.outputs.length; j++) {{
      const o = c.outputs.get(j).toJSON();
      outputs.push({{type: o.output_type, mimes: Object.keys(o.data || {{}}),
                     ename: o.ename || null, evalue: o.evalue || null,
                     text: o.text ? [].concat(o.text).join('') : null}});
    }}
    const node = w.content.widgets[i].node;
    out.push({{index: i, count: c.executionCount, state: c.executionState || null,
               tags: c.getMetadata('tags') || [], outputs: outputs,
               images: node.querySelectorAll('.jp-OutputArea-output img').length}});
  }}
  return out; }}"""
# Nothing queued or running, and the kernel idle.
SETTLED = f"""() => {{ const w = {CURRENT}; const cells = w.content.model.cells;
  if (w.sessionContext.kernelDisplayStatus !== 'idle') return false;
  for (let i = 0; i < cells.length; i++) {{
    const c = cells.get(i);
    if (c.type === 'code' && c.executionState === 'running') return false;
  }}
  return true; }}"""
STARTED = f"""() => {{ const w = {CURRENT}; const cells = w.content.model.cells;
  for (let i = 0; i < cells.length; i++) {{
    const c = cells.get(i);
    if (c.type === 'code' && (c.executionCount || c.executionState === 'running')) return true;
  }}
  return false; }}"""


def command(page: Any, name: str) -> None:
    """Start a JupyterLab command without awaiting it (a dialog it opens would block the await)."""
    page.evaluate(f"() => {{ void window.jupyterapp.commands.execute({json.dumps(name)}); }}")


def wait_settled(page: Any) -> None:
    """Until the kernel is idle and no cell is running, twice in a row half a second apart."""
    for _ in range(2):
        page.wait_for_function(SETTLED, timeout=RUN_TIMEOUT_MS, polling=250)
        time.sleep(0.5)


def open_notebook(page: Any, path: str) -> None:
    """Open a notebook as File → Open does, and wait for its kernel."""
    page.evaluate(f"""async () => {{ const app = window.jupyterapp;
        const panel = await app.commands.execute('docmanager:open', {{path: {json.dumps(path)}}});
        app.shell.activateById(panel.id);
        {CURRENT} = panel; }}""")
    try:
        page.wait_for_function(READY, arg=path, timeout=120_000, polling=250)
    except Exception:
        state = page.evaluate(STATE)
        raise AssertionError(f"{path} did not open with an idle kernel in 2 min: {state}") from None


def restart_and_run_all(page: Any) -> list[dict[str, Any]]:
    """Clear the outputs, then Run → Restart Kernel and Run All Cells…, accepting the dialog."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    stale = [c["index"] for c in page.evaluate(CELLS) if c["count"] or c["outputs"]]
    assert not stale, f"cells {stale} kept a count or an output: a stale one could look executed"
    command(page, "notebook:restart-run-all")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    page.wait_for_function(STARTED, timeout=60_000, polling=100)
    wait_settled(page)
    return page.evaluate(CELLS)


def run_cell(page: Any, index: int) -> None:
    """Select one cell and run it (Run → Run Selected Cell And Do Not Advance)."""
    page.evaluate(f"() => {{ {CURRENT}.content.activeCellIndex = {index}; }}")
    before = page.evaluate(f"() => {CURRENT}.content.model.cells.get({index}).executionCount")
    command(page, "notebook:run-cell")
    page.wait_for_function(
        f"(b) => {{ const c = {CURRENT}.content.model.cells.get({index}); "
        f"return c.executionCount && c.executionCount !== b && c.executionState !== 'running'; }}",
        arg=before, timeout=RUN_TIMEOUT_MS, polling=100)
    wait_settled(page)


def save_and_close(page: Any) -> None:
    """File → Save (forced), then close the tab and shut its kernel down."""
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function(f"() => !{CURRENT}.context.model.dirty", timeout=30_000)
    page.evaluate(f"""async () => {{ const w = {CURRENT};
        await w.sessionContext.shutdown(); w.dispose(); }}""")


def unexpected_errors(cells: list[dict[str, Any]]) -> list[str]:
    """Error outputs in cells that are not tagged to raise."""
    return [f"cell {c['index']}: {o['ename']}: {o['evalue']}" for c in cells
            if RAISES not in c["tags"] for o in c["outputs"] if o["type"] == "error"]


def assert_ran_to_the_end(cells: list[dict[str, Any]], name: str) -> None:
    """Every code cell executed, no error but in cells tagged raises-exception."""
    missing = [c["index"] for c in cells if not c["count"]]
    errors = unexpected_errors(cells)
    assert not errors, f"{name}: error output in cells without the {RAISES} tag: {errors}"
    assert not missing, f"{name}: Run All stopped: cells {missing} never ran"


def stored_images(path: Path) -> list[int]:
    """Indexes of the cells whose stored outputs hold a plot (image/png)."""
    nb = nbformat.read(path, as_version=4)
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
            and any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]


def rewrites(original: dict[str, Any], saved: dict[str, Any]) -> list[str]:
    """The notebook-level metadata keys JupyterLab's save changed, as 'key: old -> new'."""
    said = []
    for section in ("kernelspec", "language_info"):
        old, new = original.get(section, {}), saved.get(section, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                said.append(f"{section}.{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return said


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_runs_all_in_jupyterlab(page: Any, served: Path, saved_rewrites: list[str],
                                       name: str) -> None:
    open_notebook(page, f"lessons/{name}")
    cells = restart_and_run_all(page)
    assert_ran_to_the_end(cells, name)
    by_index = {c["index"]: c for c in cells}
    blank = [i for i in stored_images(ROOT / "notebooks" / name) if not by_index[i]["images"]]
    assert not blank, f"{name}: cells {blank} store a plot but show no image after Run All"
    save_and_close(page)

    original = json.loads((ROOT / "notebooks" / name).read_text())
    saved = json.loads((served / "lessons" / name).read_text())
    assert saved["metadata"]["kernelspec"] == original["metadata"]["kernelspec"], (
        f"{name}: JupyterLab rewrote the kernelspec: the stored one is not as JupyterLab writes it")
    timed = [i for i, c in enumerate(saved["cells"]) if "execution" in c.get("metadata", {})]
    assert not timed, f"{name}: the save stored execution timing metadata in cells {timed}"
    changed = rewrites(original["metadata"], saved["metadata"])
    saved_rewrites.append(f"{name}: " + ("; ".join(changed) if changed else "nothing"))


def test_workspace_exercise_fails_on_the_stub_then_passes(page: Any, served: Path) -> None:
    """A learner's copy: Run All shows the check's failure and goes on; an answer makes it pass."""
    reference = nbformat.read(ROOT / "notebooks" / EXERCISE_LESSON, as_version=4)
    answer = next(c.source for c in reference.cells if "solution" in c.metadata.get("tags", []))
    path = f"workspace/{EXERCISE_LESSON}"
    open_notebook(page, path)
    cells = restart_and_run_all(page)
    assert_ran_to_the_end(cells, path)
    model = nbformat.read(served / path, as_version=4)
    solution = next(i for i, c in enumerate(model.cells)
                    if "solution" in c.metadata.get("tags", []))
    check = next(c["index"] for c in cells if c["index"] > solution)
    failed = [o for o in next(c for c in cells if c["index"] == check)["outputs"]
              if o["type"] == "error"]
    assert failed and failed[0]["ename"] == "WrongAnswer", (
        f"{path}: the check must fail on the stub with WrongAnswer, it showed {failed}")

    # The answer goes in through the cell's shared model, as if typed, without the editor's
    # auto-indentation that keystrokes would trigger.
    page.evaluate(f"(src) => {CURRENT}.content.model.cells.get({solution}).sharedModel"
                  f".setSource(src)", answer)
    run_cell(page, solution)
    run_cell(page, check)
    cells = {c["index"]: c for c in page.evaluate(CELLS)}
    assert not [o for o in cells[solution]["outputs"] if o["type"] == "error"], cells[solution]
    outputs = cells[check]["outputs"]
    assert not [o for o in outputs if o["type"] == "error"], (
        f"{path}: the check still fails with the reference answer: {outputs}")
    assert any((o["text"] or "").startswith("✓") for o in outputs), outputs
    save_and_close(page)


def test_no_tracked_notebook_changed() -> None:
    """Opening, running and saving the lessons in JupyterLab left notebooks/ as git has it."""
    status = subprocess.run(["git", "status", "--porcelain", "notebooks/"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    assert not status.strip(), f"tracked notebooks changed:\n{status}"

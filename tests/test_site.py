"""`make site` (tools/build_site.py): a page per lesson from stored outputs, every link working."""

from __future__ import annotations

import html
import json
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import build_site  # noqa: E402  (tools/build_site.py)

LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXTERNAL = ("http://", "https://", "mailto:", "data:")


class Page(HTMLParser):
    """What the checks need from a page: links, sources, ids, details, images, scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.sources: list[str] = []
        self.ids: set[str] = set()
        self.details: list[bool] = []  # open or not
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "a" and found.get("href") is not None:
            self.links.append(str(found["href"]))
        if tag in ("img", "script") and found.get("src"):
            self.sources.append(str(found["src"]))
        if tag == "script" and found.get("src"):
            self.scripts.append(str(found["src"]))
        if tag == "details":
            self.details.append("open" in found)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    (out / "stale.html").write_text("a lesson renamed upstream")
    build_site.build(out)
    return out


def test_one_page_per_lesson_and_an_index(site: Path) -> None:
    names = sorted(p.name for p in site.glob("*.html"))
    assert names == sorted(["index.html"] + [f"{p.stem}.html" for p in LESSONS])


def test_every_local_link_and_fragment_resolves(site: Path) -> None:
    pages = {p.name: parse(p) for p in site.glob("*.html")}
    broken = []
    for name, page in pages.items():
        for link in page.links + page.sources:
            if link.startswith(EXTERNAL):
                continue
            target, _, fragment = link.partition("#")
            target = target or name
            if target not in pages:
                broken.append(f"{name}: {link} (no such page)")
            elif fragment and fragment not in pages[target].ids:
                broken.append(f"{name}: {link} (no id {fragment!r} there)")
    assert not broken, "\n".join(broken)
    assert not [link for p in pages.values() for link in p.links if ".ipynb" in link]


def test_the_index_is_the_readme_lesson_table(site: Path) -> None:
    index = parse(site / "index.html")
    assert [f"{p.stem}.html" for p in LESSONS] == [
        link for link in index.links if link.endswith(".html")]
    text = (site / "index.html").read_text()
    for row in (ROOT / "README.md").read_text().split("\n## Lessons\n")[1].splitlines()[2:]:
        if not row.startswith("| "):
            break
        lesson = row.split("|")[2].strip()
        assert lesson.replace("&", "&amp;").split(":")[0] in text, lesson


def test_lessons_link_to_their_neighbours_and_the_index(site: Path) -> None:
    for before, lesson, after in zip(LESSONS, LESSONS[1:], LESSONS[2:], strict=False):
        links = parse(site / f"{lesson.stem}.html").links
        assert {"index.html", f"{before.stem}.html", f"{after.stem}.html"} <= set(links)


def test_answers_are_folded_plots_inline_and_nothing_from_the_network(site: Path) -> None:
    for lesson in LESSONS:
        nb = nbformat.read(lesson, as_version=4)
        answers = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])
                   or c.metadata.get("jupyter", {}).get("source_hidden")]
        plots = sum(1 for c in nb.cells for o in c.get("outputs", [])
                    if "image/png" in o.get("data", {}))
        page = parse(site / f"{lesson.stem}.html")
        assert page.details == [False] * len(answers), f"{lesson.name}: answers not folded"
        images = [s for s in page.sources if s.startswith("data:image/png;base64,")]
        assert len(images) == plots, f"{lesson.name}: {plots} stored plots, {len(images)} shown"
        assert not page.scripts, f"{lesson.name} loads scripts: {page.scripts}"


def test_pages_show_the_stored_outputs_without_running_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An output's text is on the page as stored; the builder never starts a kernel."""
    import nbclient

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("make site must not execute notebooks")

    monkeypatch.setattr(nbclient.NotebookClient, "execute", refuse)
    lesson = LESSONS[0]
    monkeypatch.setattr(build_site, "lessons", lambda: [lesson])
    build_site.build(tmp_path)  # one lesson, with execution forbidden
    stored = json.loads(lesson.read_text())
    text = next("".join(o["text"]) for c in stored["cells"] for o in c.get("outputs", [])
                if o.get("output_type") == "stream" and "".join(o["text"]).strip())
    first_line = text.strip().splitlines()[0]
    page = (tmp_path / f"{lesson.stem}.html").read_text()
    assert html.escape(first_line, quote=False) in page

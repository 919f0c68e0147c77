"""`make site`: every lesson as a static HTML page, from its stored outputs (nothing re-executed).

nbconvert's HTMLExporter with JupyterLab's look (the `lab` template) and tools/site_template:
answers (cells tagged `solution`, or with their source hidden) folded in <details>, plots inline
(PNG as data URIs), no script fetched from the network, a bar of links to the index and the
neighbouring lessons, and links between lessons rewritten from .ipynb to .html. The index is the
README's lesson table. The folder is self-contained: project it, or open index.html offline.
"""

from __future__ import annotations

import argparse
import html
import re
import subprocess
import sys
from pathlib import Path

import mistune
import nbformat
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = Path(__file__).resolve().parent / "site_template"
LESSON_LINK = re.compile(r'href="(?:\.\./)?(?:notebooks/)?(\d\d_\w+)\.ipynb(#[^"]*)?"')
ANCHOR = re.compile(r'<a\s+href="([^"]*)"([^>]*)>(.*?)</a>', re.DOTALL)
EXTERNAL = ("http://", "https://", "mailto:", "#", "data:")


def lessons() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def title_of(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The lesson's first heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def nav(index: int, pages: list[tuple[str, str]]) -> str:
    """Previous lesson, the index, next lesson."""
    left = (f'<a href="{pages[index - 1][0]}" rel="prev">← {html.escape(pages[index - 1][1])}</a>'
            if index > 0 else "<span></span>")
    right = (f'<a href="{pages[index + 1][0]}" rel="next">{html.escape(pages[index + 1][1])} →</a>'
             if index + 1 < len(pages) else "<span></span>")
    return f'{left}<a href="index.html">All lessons</a>{right}'


def rewrite_links(page: str, known: set[str]) -> str:
    """Lesson links to the lesson's page; other files of the repository become plain text."""
    page = LESSON_LINK.sub(lambda m: f'href="{m[1]}.html{m[2] or ""}"'
                           if m[1] in known else m[0], page)

    def local(match: re.Match[str]) -> str:
        target = match[1]
        if target.startswith(EXTERNAL) or target.split("#")[0] in {f"{k}.html" for k in known} \
                or target == "index.html":
            return match[0]
        if target.split("#")[0].endswith("README.md"):
            return f'<a href="index.html"{match[2]}>{match[3]}</a>'
        return f'<span class="workbook-file" title="{html.escape(target)}">{match[3]}</span>'

    return ANCHOR.sub(local, page)


def readme_parts() -> tuple[str, str, str]:
    """The README's title, first paragraph, and its "## Lessons" section."""
    text = (ROOT / "README.md").read_text()
    title = text.splitlines()[0].lstrip("# ").strip()
    intro = text.split("\n\n")[1].strip()
    lessons_md = text.split("\n## Lessons\n", 1)[1].split("\n## ", 1)[0].strip()
    return title, intro, lessons_md


def index_page(known: set[str], commit: str) -> str:
    """The README's lesson table as the site's front page."""
    title, intro, table = readme_parts()
    render = mistune.create_markdown(plugins=["table"])
    body = rewrite_links(str(render(table)), known)
    body = re.sub(r">notebooks/(\d\d_\w+)\.ipynb<", r">\1<", body)  # the page, not the file
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
  line-height: 1.5; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em;
  text-align: left; vertical-align: top; }}
code {{ font-size: 0.9em; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
{render(intro)}
<p>Each page shows a lesson as it is stored: its code and the outputs of a clean run (nothing runs
here; answers are folded). To run and change the lessons: <code>make lab</code>.</p>
<h2 id="lessons">Lessons</h2>
{body}
<p><small>Built by <code>make site</code> from {html.escape(commit)}.</small></p>
</body></html>
"""


def commit() -> str:
    try:
        said = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h (%cs)"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        said = ""
    return f"commit {said}" if said else "a checkout without git"


def build(out: Path) -> list[Path]:
    """Write index.html and one page per lesson into out; returns the pages written."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.html"):  # a lesson renamed upstream leaves no stale page behind
        old.unlink()
    notebooks = [(path, nbformat.read(path, as_version=4)) for path in lessons()]
    known = {path.stem for path, _ in notebooks}
    pages = [(f"{path.stem}.html", f"{path.stem[:2]} {title_of(nb, path.stem)}")
             for path, nb in notebooks]
    exporter = HTMLExporter(template_name="lab", template_file="workbook.html.j2",
                            extra_template_paths=[str(TEMPLATE_DIR)])
    written = []
    for index, (_path, nb) in enumerate(notebooks):
        body, _ = exporter.from_notebook_node(nb, resources={
            "workbook_nav": nav(index, pages), "metadata": {"name": pages[index][1]}})
        target = out / pages[index][0]
        target.write_text(rewrite_links(body, known), encoding="utf-8")
        written.append(target)
    (out / "index.html").write_text(index_page(known, commit()), encoding="utf-8")
    return [out / "index.html", *written]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=ROOT / "site")
    args = parser.parse_args(argv)
    pages = build(args.out)
    size = sum(p.stat().st_size for p in pages)
    print(f"{args.out}: {len(pages)} pages (the index and {len(pages) - 1} lessons), "
          f"{size / 1e6:.1f} MB; open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

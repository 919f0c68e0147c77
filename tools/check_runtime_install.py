"""Install the project without extras into a fresh venv and import every module of patterns/.

`make test` has a fast equivalent (tests/test_layers.py hides dev-only libraries); this is the
real thing, run by .ci/run: `pip install .` with no [dev], then every import, outside the checkout.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).parent / "uv"

IMPORT_ALL = """
import importlib, pkgutil, patterns
names = [m.name for m in pkgutil.walk_packages(patterns.__path__, prefix="patterns.")
         if not m.name.startswith("patterns.seed")]
for name in names:
    importlib.import_module(name)
assert "site-packages" in patterns.__file__, patterns.__file__  # the installed copy, not the tree
for dev in ("IPython", "hypothesis", "jsonschema", "pytest", "nbval"):
    assert importlib.util.find_spec(dev) is None, f"{dev} is installed without [dev]"
print(f"runtime install: {len(names)} modules of patterns import without the [dev] extra")
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "runtime"
        subprocess.run([UV, "venv", "-q", "--python", sys.executable, venv], check=True)
        python = venv / "bin" / "python"
        subprocess.run([UV, "pip", "install", "-q", "--python", python, "-c",
                        ROOT / "constraints.txt", ROOT], check=True)
        return subprocess.run([python, "-c", IMPORT_ALL], cwd=tmp).returncode


if __name__ == "__main__":
    sys.exit(main())

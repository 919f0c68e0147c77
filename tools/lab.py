"""Start JupyterLab on the workspace at a fixed port, and print the URL it really serves.

The port is LAB_PORT (default 8888). A busy port stops here with one line, rather than
JupyterLab moving to another port while the printed URL names the busy one.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

# One check for a free port, shared with make doctor (which must run with nothing installed).
from doctor import port_free

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def lab_command(port: int, notebook_dir: Path) -> list[str]:
    """JupyterLab on the workspace, at exactly this port."""
    return [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--ip={HOST}",
            f"--port={port}", "--ServerApp.port_retries=0", f"--notebook-dir={notebook_dir}"]


def main() -> int:
    raw = os.environ.get("LAB_PORT") or "8888"
    if not raw.isdigit():
        print(f"LAB_PORT={raw} is not a port number: try make lab LAB_PORT=8890")
        return 2
    port = int(raw)
    if not port_free(HOST, port):
        print(f"port {port} is busy (another JupyterLab?): stop it, or choose another port: "
              f"make lab LAB_PORT={port + 1}")
        return 1
    # The token goes to JupyterLab through its environment, not its command line (ps shows that);
    # JupyterLab logs a token it was given as "...", so the URL is printed here.
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    env = dict(os.environ, JUPYTER_TOKEN=token)
    print(f"open http://{HOST}:{port}/lab?token={token}   (Ctrl+C stops JupyterLab)", flush=True)
    command = lab_command(port, ROOT / "workspace")
    os.execve(command[0], command, env)
    return 0  # not reached: JupyterLab replaces this process


if __name__ == "__main__":
    sys.exit(main())

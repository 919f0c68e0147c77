"""`make wheelhouse WHEELHOUSE=dir`: every wheel `make setup` needs, for the targets named.

A target is an operating system, a machine and a Python version: "linux x86_64 3.11". For each,
`uv pip compile` resolves the locked dependencies (constraints.txt) with the target's environment
markers (not this machine's), plus uv itself and setuptools (the backend of the project's editable
install); then `pip download --only-binary=:all:` fetches that exact set as the target's wheels
(`--no-deps`: the resolution is already done). All targets share one folder, so a pure-Python
wheel is stored once. manifest.json and MANIFEST.txt list each target's files and sizes.

Supported: linux x86_64 and aarch64 (glibc 2.28 or newer: manylinux_2_28 wheels and older tags),
macos x86_64 and arm64 (macOS 12 or newer), Python 3.11 to 3.13. Not Windows: the Makefile is
POSIX (on Windows, use WSL, which is linux x86_64). A target whose locked release of some package
has no wheel for it fails with pip's message naming the package (today: macos x86_64, for
argon2-cffi-bindings 26.2.0): a wheelhouse that needs a compiler is no wheelhouse.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PYTHONS = ("3.11", "3.12", "3.13")
MACOS_MIN = (12, 0)
GLIBC_MIN = 28  # manylinux_2_28


class Target(NamedTuple):
    system: str  # linux or macos
    machine: str  # x86_64, aarch64 (linux) or arm64 (macos)
    python: str  # 3.11

    @property
    def name(self) -> str:
        return f"{self.system} {self.machine} {self.python}"

    @property
    def slug(self) -> str:
        return self.name.replace(" ", "-")

    def uv_platform(self) -> str:
        """uv pip compile's --python-platform for this target."""
        if self.system == "linux":
            return f"{self.machine}-manylinux_2_{GLIBC_MIN}"
        return f"{'aarch64' if self.machine == 'arm64' else 'x86_64'}-apple-darwin"

    def pip_platforms(self) -> list[str]:
        """pip download's --platform tags, most specific first: every tag this target accepts."""
        if self.system == "linux":
            tags = [f"manylinux_2_{minor}_{self.machine}" for minor in range(GLIBC_MIN, 16, -1)]
            tags.append(f"manylinux2014_{self.machine}")
            if self.machine == "x86_64":
                tags += [f"manylinux_2_{m}_x86_64" for m in (12, 5)]
                tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
            return tags
        versions = [f"{major}_0" for major in range(MACOS_MIN[0], 10, -1)]
        versions += [f"10_{minor}" for minor in range(16, 8, -1)]
        arches = ["arm64", "universal2"] if self.machine == "arm64" else [
            "x86_64", "intel", "universal2"]
        return [f"macosx_{version}_{arch}" for version in versions for arch in arches
                if not (arch == "arm64" and version.startswith("10_"))]

    def abis(self) -> list[str]:
        return [f"cp{self.python.replace('.', '')}", "abi3", "none"]


class WheelError(RuntimeError):
    """A wheel the target needs could not be found or downloaded."""


class TargetError(ValueError):
    """A target the wheelhouse cannot serve, said in one line."""


def parse_target(text: str) -> Target:
    """'linux x86_64 3.11' (also 'macos arm64 3.12'); anything else raises TargetError."""
    words = text.split()
    if len(words) != 3:
        raise TargetError(f"{text!r}: a target is 'system machine python', "
                          "e.g. 'linux x86_64 3.11'")
    system, machine, python = words[0].lower(), words[1].lower(), words[2]
    machines = {"linux": ("x86_64", "aarch64"), "macos": ("x86_64", "arm64")}
    if system == "windows":
        raise TargetError(f"{text!r}: Windows is not supported (the Makefile is POSIX); "
                          "on Windows use WSL, whose target is 'linux x86_64 3.11'")
    if system not in machines:
        raise TargetError(f"{text!r}: the system is linux or macos")
    aliases = {"amd64": "x86_64", "arm64": "aarch64"} if system == "linux" else {
        "aarch64": "arm64", "amd64": "x86_64"}
    machine = aliases.get(machine, machine)
    if machine not in machines[system]:
        raise TargetError(f"{text!r}: {system} machines are {' or '.join(machines[system])}")
    if python not in PYTHONS:
        raise TargetError(f"{text!r}: the Python is one of {', '.join(PYTHONS)}")
    return Target(system, machine, python)


def this_machine() -> Target:
    """The target of the machine this runs on, with this Python's version."""
    import platform

    system = {"Darwin": "macos", "Linux": "linux"}.get(platform.system(), platform.system())
    return parse_target(f"{system} {platform.machine()} {sys.version_info[0]}."
                        f"{sys.version_info[1]}")


def parse_targets(text: str | None) -> list[Target]:
    """TARGETS="linux x86_64 3.11, macos arm64 3.12"; empty means this machine."""
    if not text or not text.strip():
        return [this_machine()]
    targets = [parse_target(part) for part in text.split(",") if part.strip()]
    return list(dict.fromkeys(targets))


def build_requirements(extra: Path) -> None:
    """What the wheelhouse adds to the lock: uv (this one's version) and the build backend."""
    uv_version = subprocess.run([BIN / "uv", "--version"], capture_output=True, text=True,
                                check=True).stdout.split()[1]
    requires = "setuptools>=69"  # pyproject.toml's [build-system]; newer ones need no `wheel`
    extra.write_text(f"uv=={uv_version}\n{requires}\n")


def patch_versions(target: Target) -> list[str]:
    """The Python versions to resolve at: x.y.0 and both sides of each patch-level split.

    A universal lock can pin one release below 3.11.5 and another from it on
    (python_full_version markers); a wheelhouse serves every patch release of its minor.
    """
    text = (ROOT / "constraints.txt").read_text()
    found = {f"{target.python}.0"}
    for version in re.findall(r"python_full_version\s*[<>=!~]=?\s*'(\d+\.\d+\.\d+)'", text):
        minor, patch = version.rsplit(".", 1)
        if minor == target.python:
            found |= {version, f"{minor}.{int(patch) + 1}"}
    return sorted(found, key=lambda v: int(v.rsplit(".", 1)[1]))


def compile_for(target: Target, version: str, extras: list[str], extra: Path,
                out: Path) -> list[str]:
    """The exact requirement lines of one target, resolved with its own markers."""
    command = [str(BIN / "uv"), "pip", "compile", "-q", "--no-header", "--no-annotate",
               str(ROOT / "pyproject.toml"), str(extra), "-c", str(ROOT / "constraints.txt"),
               "--overrides", str(ROOT / "overrides.txt"),
               "--python-platform", target.uv_platform(), "--python-version", version,
               "-o", str(out)]
    for name in extras:
        command += ["--extra", name]
    env = dict(os.environ, MACOSX_DEPLOYMENT_TARGET=f"{MACOS_MIN[0]}.{MACOS_MIN[1]}")
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    return [line.strip() for line in out.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def download_for(target: Target, version: str, requirements: Path, folder: Path) -> None:
    """Each resolved wheel for the target's platform tags and Python (no sdist, no resolution)."""
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--python-version", version, "--implementation", "cp", "-d", str(folder),
               "-r", str(requirements)]
    for tag in target.pip_platforms():
        command += ["--platform", tag]
    for abi in target.abis():
        command += ["--abi", abi]
    # Quiet when it works: a machine's pip configuration may warn about each extra index.
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if "is ignored" not in line]
        raise WheelError(f"pip download for {target.name} failed:\n" + "\n".join(said[-15:]))


def normalized(name: str) -> str:
    """A project name as wheel files and pins compare equal ('PyYAML', 'zope.interface')."""
    return re.sub(r"[-_.]+", "_", name).lower()


def fits(filename: str, target: Target) -> bool:
    """Whether a wheel installs on the target (its Python, ABI and platform tags)."""
    python_tags, abi_tags, platform_tags = filename[:-len(".whl")].split("-")[-3:]
    minor = int(target.python.split(".")[1])
    abis = target.abis()

    def python_fits(tag: str) -> bool:
        if tag in ("py3", f"py3{minor}", f"cp3{minor}"):
            return True  # abi3 wheels (cp39-abi3) serve every later CPython
        return tag.startswith("cp3") and "abi3" in abi_tags and int(tag[3:]) <= minor

    return (any(python_fits(t) for t in python_tags.split("."))
            and any(a in abis for a in abi_tags.split("."))
            and any(p == "any" or p in target.pip_platforms() for p in platform_tags.split(".")))


def files_for(lines: list[str], folder: Path, target: Target) -> list[Path]:
    """The wheel of each resolved line, found in the folder (several targets share it)."""
    by_pin: dict[tuple[str, str], list[Path]] = {}
    for wheel in folder.glob("*.whl"):
        name, version = wheel.name.split("-")[:2]
        if fits(wheel.name, target):
            by_pin.setdefault((normalized(name), version), []).append(wheel)
    found = []
    for line in lines:
        requirement = line.split(";")[0].strip()
        name, version = requirement.split("==")
        matches = by_pin.get((normalized(name.split("[")[0]), version.strip()))
        if not matches:
            raise WheelError(f"{target.name}: no wheel for {requirement} in {folder}")
        found.extend(matches)
    return sorted(set(found))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(folder: Path, targets: list[Target], extras: list[str]) -> dict:
    """Resolve and download every target into folder; returns the manifest written there."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "requirements").mkdir(exist_ok=True)
    manifest: dict = {"constraints_sha256": sha256(ROOT / "constraints.txt"), "extras": extras,
                      "targets": []}
    with tempfile.TemporaryDirectory() as tmp:
        extra = Path(tmp) / "build-requirements.in"
        build_requirements(extra)
        for target in targets:
            started = time.perf_counter()
            lines: list[str] = []
            versions = patch_versions(target)
            for version in versions:  # each resolved set; only its new pins are downloaded
                resolved = compile_for(target, version, extras, extra, Path(tmp) / "set.txt")
                new = [line for line in resolved if line not in lines]
                if new:
                    (Path(tmp) / "new.txt").write_text("\n".join(new) + "\n")
                    download_for(target, version, Path(tmp) / "new.txt", folder)
                    lines += new
            requirements = folder / "requirements" / f"{target.slug}.txt"
            requirements.write_text(
                f"# {target.name}: the union of the sets resolved for Python "
                f"{', '.join(versions)} ({target.uv_platform()}); not one installable set\n"
                + "\n".join(sorted(lines, key=str.lower)) + "\n")
            wheels = files_for(lines, folder, target)
            size = sum(p.stat().st_size for p in wheels)
            manifest["targets"].append({
                "target": target.name, "uv_platform": target.uv_platform(),
                "python_versions_resolved": versions,
                "requirements": f"requirements/{target.slug}.txt",
                "files": [{"name": p.name, "bytes": p.stat().st_size} for p in wheels],
                "count": len(wheels), "bytes": size})
            print(f"{target.name}: {len(wheels)} wheels, {size / 1e6:.0f} MB "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    every = {f["name"]: f["bytes"] for t in manifest["targets"] for f in t["files"]}
    manifest["count"] = len(every)
    manifest["bytes"] = sum(every.values())
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (folder / "MANIFEST.txt").write_text(summary(manifest))
    return manifest


def summary(manifest: dict) -> str:
    """The manifest as a trainer reads it."""
    lines = ["Wheelhouse for the Backend Patterns Workbook: make setup WHEELHOUSE=<this folder>",
             f"extras: {', '.join(manifest['extras'])}; constraints.txt sha256 "
             f"{manifest['constraints_sha256'][:12]}", ""]
    for target in manifest["targets"]:
        lines.append(f"{target['target']}: {target['count']} wheels, "
                     f"{target['bytes'] / 1e6:.1f} MB ({target['requirements']})")
        lines += [f"  {f['name']}  {f['bytes']:,}" for f in target["files"]]
        lines.append("")
    lines.append(f"total: {manifest['count']} files, {manifest['bytes'] / 1e6:.1f} MB "
                 "(wheels shared between targets counted once)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--targets", default=os.environ.get("TARGETS", ""),
                        help='e.g. "linux x86_64 3.11, macos arm64 3.12" (default: this machine)')
    parser.add_argument("--extras", default="dev",
                        help="the project's extras to include, comma-separated (default: dev)")
    args = parser.parse_args(argv)
    try:
        targets = parse_targets(args.targets)
    except TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    extras = [e.strip() for e in args.extras.split(",") if e.strip()]
    started = time.perf_counter()
    try:
        manifest = build(args.folder, targets, extras)
    except (subprocess.CalledProcessError, WheelError) as exc:
        print(f"error: the wheelhouse is incomplete: {exc}", file=sys.stderr)
        return 1
    print(f"{args.folder}: {manifest['count']} files, {manifest['bytes'] / 1e6:.0f} MB for "
          f"{', '.join(t.name for t in targets)} ({time.perf_counter() - started:.0f} s); "
          f"manifest in {args.folder / 'MANIFEST.txt'}")
    print(f"install from it with no network: make setup WHEELHOUSE={args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make wheelhouse` and `make setup WHEELHOUSE=...`: the parts that need no network.

The real thing (build, then install under `unshare -n`) is `make test-wheelhouse`, run by .ci/run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import wheelhouse  # noqa: E402  (tools/wheelhouse.py)
from wheelhouse import Target, TargetError, parse_target, parse_targets  # noqa: E402


def test_targets_are_parsed_and_windows_is_refused_with_the_way_round() -> None:
    assert parse_targets("linux x86_64 3.11, macos arm64 3.12") == [
        Target("linux", "x86_64", "3.11"), Target("macos", "arm64", "3.12")]
    assert parse_target("Linux amd64 3.13") == Target("linux", "x86_64", "3.13")
    assert parse_target("macos aarch64 3.12") == Target("macos", "arm64", "3.12")
    with pytest.raises(TargetError, match="WSL"):
        parse_target("windows x86_64 3.11")
    with pytest.raises(TargetError, match="3.11, 3.12, 3.13"):
        parse_target("linux x86_64 3.10")
    with pytest.raises(TargetError, match="x86_64 or aarch64"):
        parse_target("linux riscv64 3.12")
    assert parse_targets("") == [wheelhouse.this_machine()]


def test_platform_tags_never_exceed_the_oldest_supported_system() -> None:
    arm = Target("macos", "arm64", "3.12").pip_platforms()
    assert arm[0] == "macosx_12_0_arm64" and "macosx_13_0_arm64" not in arm
    assert "macosx_10_9_universal2" in arm and not [t for t in arm if t.startswith("macosx_10_")
                                                    and t.endswith("_arm64")]
    linux = Target("linux", "aarch64", "3.11").pip_platforms()
    assert linux[0] == "manylinux_2_28_aarch64" and "manylinux_2_31_aarch64" not in linux
    assert Target("linux", "x86_64", "3.11").uv_platform() == "x86_64-manylinux_2_28"
    assert Target("macos", "arm64", "3.11").uv_platform() == "aarch64-apple-darwin"


@pytest.mark.parametrize(("filename", "target", "fits"), [
    ("numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
     "linux x86_64 3.11", True),
    ("numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
     "linux x86_64 3.12", False),  # another Python
    ("numpy-2.5.5-cp312-cp312-macosx_14_0_arm64.whl", "macos arm64 3.12", False),  # macOS 14 only
    ("numpy-2.5.5-cp312-cp312-macosx_11_0_arm64.whl", "macos arm64 3.12", True),
    ("argon2_cffi_bindings-26.2.0-cp310-abi3-macosx_11_0_arm64.whl", "macos arm64 3.13", True),
    ("uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "macos arm64 3.12",
     False),
    ("flask-3.1.3-py3-none-any.whl", "macos x86_64 3.13", True),
])
def test_a_wheel_fits_a_target_by_its_python_abi_and_platform_tags(
        filename: str, target: str, fits: bool) -> None:
    assert wheelhouse.fits(filename, parse_target(target)) is fits


def test_each_patch_level_split_of_the_lock_is_resolved() -> None:
    """A pin that changes at 3.11.5 (soupsieve, today) needs both sides in a 3.11 wheelhouse."""
    text = (ROOT / "constraints.txt").read_text()
    versions = wheelhouse.patch_versions(Target("linux", "x86_64", "3.11"))
    assert versions[0] == "3.11.0"
    for split in ("3.11.3", "3.11.5"):
        if f"python_full_version < '{split}'" in text:
            assert split in versions


def test_the_manifest_lists_only_the_targets_own_wheels(tmp_path: Path) -> None:
    for name in ("uv-1.0-py3-none-manylinux_2_17_x86_64.whl",
                 "uv-1.0-py3-none-macosx_11_0_arm64.whl",
                 "PyYAML-6.0-cp312-cp312-macosx_11_0_arm64.whl"):
        (tmp_path / name).write_bytes(b"")
    found = wheelhouse.files_for(["uv==1.0", "pyyaml==6.0"], tmp_path,
                                 Target("macos", "arm64", "3.12"))
    assert [p.name for p in found] == ["PyYAML-6.0-cp312-cp312-macosx_11_0_arm64.whl",
                                       "uv-1.0-py3-none-macosx_11_0_arm64.whl"]
    with pytest.raises(wheelhouse.WheelError, match="no wheel for pyyaml==6.0"):
        wheelhouse.files_for(["pyyaml==6.0"], tmp_path, Target("linux", "x86_64", "3.12"))


def make_n(*args: str) -> str:
    return subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def test_setup_with_a_wheelhouse_never_asks_an_index(tmp_path: Path) -> None:
    said = make_n("setup", "WHEELHOUSE=/media/usb/wheels", f"VENV={tmp_path / 'v'}")
    installs = [line for line in said.replace("\\\n", " ").splitlines()
                if " install " in line and not line.startswith("echo")]
    assert len(installs) == 2 and all("--no-index" in line for line in installs), installs
    assert '--find-links "/media/usb/wheels"' in said and "--offline" in said
    online = make_n("setup", f"VENV={tmp_path / 'v'}")
    assert "--no-index" not in online


def test_building_a_wheelhouse_does_not_install_from_it(tmp_path: Path) -> None:
    said = make_n("wheelhouse", "WHEELHOUSE=/tmp/new", f"VENV={tmp_path / 'v'}")
    assert "--no-index" not in said and "tools/wheelhouse.py" in said

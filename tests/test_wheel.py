"""The package installs as a wheel: boards and templates are package data, found without the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_in_a_fresh_venv(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(ROOT)], check=True, capture_output=True, timeout=600, cwd=tmp_path)
    wheel = next(wheels.glob("ohq_flow-*.whl"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # ohq_flow from the wheel only; its dependencies from the project's environment (read through a .pth file,
    # which does not run that environment's own .pth files, so the editable ohq_flow there stays invisible)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (site / "project_deps.pth").write_text("\n".join(deps) + "\n")
    work = tmp_path / "work"
    shutil.copytree(ROOT / "examples" / "digits", work / "examples" / "digits")
    (work / "examples" / "__init__.py").write_text("")
    cfg = yaml.safe_load((work / "examples" / "digits" / "flow.yaml").read_text())
    config = work / "examples" / "digits" / "flow.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}

    def ohq(*args):
        return subprocess.run([str(py), "-m", "ohq_flow", *args], capture_output=True, text=True, cwd=work, env=env,
                              timeout=600)
    where = subprocess.run([str(py), "-c", "import ohq_flow; print(ohq_flow.__file__)"], capture_output=True, text=True,
                           cwd=work, env=env)
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr
    boards = ohq("boards")
    assert boards.returncode == 0 and "ULX3S 85F" in boards.stdout and "PYNQ-Z2" in boards.stdout, boards.stderr
    valid = ohq("validate", str(config))
    assert valid.returncode == 0 and "OK" in valid.stdout, valid.stderr
    templates = site / "ohq_flow" / "templates"
    assert (templates / "rtl" / "ohq_top.v.j2").is_file() and (templates / "yosys" / "synth_ecp5.ys").is_file()

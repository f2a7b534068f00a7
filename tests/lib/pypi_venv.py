"""pypi_venv.py — a package from PyPI for a test, in a virtualenv made on first use (onnxruntime for the ONNX
export test, tensorboard for the TensorBoard logs): its python, or None and why (no python3-venv, no network),
so the test can say what it skipped."""
import os
import subprocess
import sys


def pypi_python(venv, package, probe):
    """The virtualenv's python once `import probe` works there, pip-installing `package` if needed."""
    py = os.path.join(venv, "bin", "python")
    check = [py, "-c", f"import {probe}"]
    if os.path.exists(py) and subprocess.run(check, capture_output=True).returncode == 0:
        return py, ""
    r = subprocess.run([sys.executable, "-m", "venv", venv], capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"cannot make a virtualenv at {venv} (python3-venv): {r.stderr.strip()[-300:]}"
    r = subprocess.run([py, "-m", "pip", "install", "--quiet", package], capture_output=True, text=True, timeout=900)
    if r.returncode != 0 or subprocess.run(check, capture_output=True).returncode != 0:
        return None, f"pip could not install {package} (no network?): {r.stderr.strip()[-300:]}"
    return py, ""

"""Cold-start import cost per PLATFORM, against a bare `import azure.functions`.

    .venv/bin/python bench/cold_start.py [--runs 5]

For each platform (local, aws, azure) a fresh interpreter imports `function_app` (or, if it does
not exist, `shared.platform`) and builds the platform object (no network call), timing both. The
baseline is a fresh interpreter importing only `azure.functions`. Prints one JSON line per
platform with the medians in milliseconds and the ratio to the baseline. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

BASELINE = """
import time
start = time.perf_counter()
import azure.functions
print(time.perf_counter() - start)
"""

PLATFORM_IMPORT = """
import importlib.util, time
start = time.perf_counter()
if importlib.util.find_spec("function_app") is not None:
    import function_app
from shared.platform import build_platform
from shared.settings import load_settings
build_platform(load_settings())
print(time.perf_counter() - start)
"""

# Enough configuration for every platform to build; nothing is contacted.
PLATFORM_ENV = {
    "local": {},
    "aws": {"AWS_REGION": "eu-central-1"},
    "azure": {
        "KEY_VAULT_URL": "https://bench.vault.azure.net",
        "STORAGE_ACCOUNT_URL": "https://bench.blob.core.windows.net",
    },
}


def time_once(code: str, env: dict[str, str]) -> float:
    """Seconds the snippet reports in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def median_ms(code: str, env: dict[str, str], runs: int) -> float:
    return round(statistics.median(time_once(code, env) for _ in range(runs)) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    target = "function_app" if (REPO_ROOT / "function_app.py").exists() else "shared.platform"
    baseline = median_ms(BASELINE, {}, args.runs)
    with tempfile.TemporaryDirectory() as data_dir:
        for platform, extra in PLATFORM_ENV.items():
            env = {"PLATFORM": platform, "LOCAL_DATA_DIR": data_dir, **extra}
            measured = median_ms(PLATFORM_IMPORT, env, args.runs)
            line = {
                "bench": "cold_start",
                "platform": platform,
                "imports": target,
                "median_ms": measured,
                "baseline_azure_functions_ms": baseline,
                "ratio": round(measured / baseline, 2),
                "runs": args.runs,
            }
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()

"""How much `import magentic.config` costs, against pydantic's own floor.

Every command (`magentic doctor`, `bench merge`, a config check) reads a config first, so its
import must not drag in the model SDK, the agents or the orchestrator. The floor is
`from pydantic import BaseModel` plus one small model, which any typed config pays; the
target is at most twice that. Each figure is the median of fresh interpreters.

    .venv/bin/python benchmarks/import_config.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

RUNS = 15
TIMER = "import time; t = time.perf_counter()\n{body}\nprint(time.perf_counter() - t)"
FLOOR = (
    "from pydantic import BaseModel\nclass Small(BaseModel):\n    name: str = 'x'\n    n: int = 1"
)
CONFIG = "import magentic.config"
LOADED = "import sys, magentic.config\nprint(sum(m.startswith('magentic') for m in sys.modules), 'openai' in sys.modules)"


def seconds(body: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", TIMER.format(body=body)], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip())


def main() -> None:
    floor = statistics.median(seconds(FLOOR) for _ in range(RUNS))
    config = statistics.median(seconds(CONFIG) for _ in range(RUNS))
    loaded = subprocess.run(
        [sys.executable, "-c", LOADED], capture_output=True, text=True, check=True
    ).stdout.split()
    print(
        json.dumps(
            {
                "pydantic_floor_ms": round(floor * 1000, 1),
                "import_config_ms": round(config * 1000, 1),
                "ratio": round(config / floor, 2),
                "target_ratio": 2.0,
                "magentic_modules_loaded": int(loaded[0]),
                "openai_loaded": loaded[1] == "True",
            }
        )
    )


if __name__ == "__main__":
    main()

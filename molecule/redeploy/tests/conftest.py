import sys
from pathlib import Path

# Helpers shared by the scenarios and the benchmark.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

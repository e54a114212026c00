import sys
from pathlib import Path

# The app is deployed as a directory, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sys
from pathlib import Path

# tablegen.py (synthetic tables for unit tests) lives in tests/
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

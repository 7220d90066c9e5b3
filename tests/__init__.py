"""Tests. The handbook (LeanIX reference files) lies beside the checkout, as `../shared/handbook`."""

from pathlib import Path

HANDBOOK = Path(__file__).resolve().parent.parent.parent / "shared" / "handbook"

"""Recorders: daemon services that write parts of the journal to files, for people and tools.

- `jsonl`: `JsonlRecorder` (service kind `jsonl_recorder`), chosen message types as JSON lines
  under `artifacts/<run_id>/` (the paper quoter's `quotes.jsonl`).
"""

from adapters.recorders.jsonl import JsonlRecorder as JsonlRecorder
from adapters.recorders.jsonl import JsonlRecorderConfig as JsonlRecorderConfig

__all__ = ["JsonlRecorder", "JsonlRecorderConfig"]

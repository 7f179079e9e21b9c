"""The registry of conversation steps: each step's question and how it reads answers.

Filled in by `conversations.coach` from the step modules, so that they can ask each other's
questions without importing each other at load time.
"""

from __future__ import annotations

from conversations.flow import StepSpec
from conversations.state import Step

SPECS: dict[Step, StepSpec] = {}

"""The programme as data: stages, exercises, doses, check-ins, safety screen and messages."""

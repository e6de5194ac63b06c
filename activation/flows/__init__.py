"""Provisioning flows as straight-line async functions over an `AmtSession` (STYLE.md rule 6).

Each returns a `FlowResult`: the status JSON for the terminal message and one `StepRecord` per
step for the run history.
"""

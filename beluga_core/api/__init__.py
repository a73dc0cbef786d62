"""The definitions every part agrees on: types, protocols, errors, retry policy, naming, hooks.

No behaviour of an executor lives here, and nothing here imports an executor or a store, so the executors,
the stores and the Temporal adapter all build on it without import cycles. Users import these names from
:mod:`beluga_core.workflow`, which re-exports them (and :mod:`beluga_core.workflow.errors` for the errors).
"""

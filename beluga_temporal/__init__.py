"""Run Beluga workflows on Temporal.

::

    client = await Client.connect(address, plugins=[BelugaPlugin()])
    worker = create_worker(client, task_queue="orders", workflows=[order_workflow],
                           activities=[validate_order, process_order])
    executor = TemporalExecutor(client, task_queue="orders")
    store = TemporalStore(client)

Importing this package registers the ``"temporal"`` provider with :mod:`beluga_core.workflow`'s registry
(``Config.extra``: ``client``, ``task_queue``).
"""

from ._devserver import dev_server_path, start_dev_server
from ._dispatch_workflow import BelugaWorkflow
from ._executor import TemporalExecutor, TemporalWorkflowHandle
from ._plugin import BelugaPlugin
from ._provider import register_provider
from ._store import TemporalStore
from ._worker import create_replayer, create_worker

register_provider()

__all__ = [
    "BelugaPlugin",
    "BelugaWorkflow",
    "TemporalExecutor",
    "TemporalStore",
    "TemporalWorkflowHandle",
    "create_replayer",
    "create_worker",
    "dev_server_path",
    "start_dev_server",
]

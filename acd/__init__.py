"""trunkline.acd: the automatic call distributor.

core.ACDCore     shared state in the database (agents, queue entries, dispatch with row locking)
service.ACD      the facade on a media engine: enqueue(call, queue), agents, transfers, monitoring
strategies / skills / ewt / queue_log / cti / announce   the pure parts
The web side (CTI streams, agent page) is trunkline.webadmin.cti; the traffic simulation is
trunkline.app.acd_simulate.
"""


def __getattr__(name):
    if name in ("ACD", "QueueResult"):
        from . import service
        return getattr(service, name)
    if name in ("ACDCore", "ACDError"):
        from . import core
        return getattr(core, name)
    raise AttributeError(name)

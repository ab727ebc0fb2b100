"""trunkline.acd: the automatic call distributor.

core.ACDCore     shared state in the database (agents, queue entries, dispatch with row locking)
service.ACD      the facade on a media engine: enqueue(call, queue), agents, transfers, monitoring
strategies / skills / ewt / queue_log / cti / announce   the pure parts
web.bp           CTI Server-Sent Event streams, agent page, reference page (Flask blueprint)
simulate         traffic simulation in virtual time (discrete-event over ACDCore, or through the engine)
"""


def __getattr__(name):
    if name in ("ACD", "QueueResult"):
        from . import service
        return getattr(service, name)
    if name in ("ACDCore", "ACDError"):
        from . import core
        return getattr(core, name)
    raise AttributeError(name)

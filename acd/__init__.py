"""trunkline.acd: the automatic call distributor.

core.ACDCore     shared state in the database: store (transactions, row locking), agent_state,
                 entries (queue entries), dispatch (offers with row locking)
service.ACD      the facade on a media engine: enqueue(call, queue), agents, transfers, monitoring;
                 composed of waiting, offering, connected and commands over a shared runtime
strategies / skills / ewt / queue_log / cti / announce   the pure parts
The web side (CTI streams, agent page) is trunkline.webadmin.cti; the traffic simulation is
trunkline.app.acd_simulate.
"""
from .core import ACDCore, ACDError
from .service import ACD, QueueResult

__all__ = ["ACD", "ACDCore", "ACDError", "QueueResult"]

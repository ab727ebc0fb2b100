"""Test harness: the simulation rig (card + far-end switch + board + engine) in virtual time."""
from trunkline.pstn.rig import SimRig


def Rig(query="fxo=4&fxs=2", prompts_dirs=(), trunk="pri", **engine_kw):  # noqa: N802 - used like a class
    """A `SimRig` on a fresh card described by a sim:// query; `run(coro)` drives it in virtual time."""
    return SimRig.with_query(query, trunk=trunk, prompts=list(prompts_dirs), **engine_kw)

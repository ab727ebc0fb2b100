"""trunkline.pstn: the simulated far end of the card: a PSTN switch with scripted callers and
station phones, PRI/R2 trunk far ends, fax machines, a GSM modem, and the rig that wires a card,
its far end, a board and an engine together for the server, the simulations, benches and tests.

    rig = SimRig.for_trunk("pri", channels=30)
    phone = rig.sim.call("95588", from_="13800138000")
"""
from trunkline.pstn.rig import SimRig, board_url_for, drive, unique_name
from trunkline.pstn.switch import Phone, SimError, Station, Switch, TrunkCall, render_dtmf

__all__ = ["SimRig", "board_url_for", "drive", "unique_name", "Switch", "Phone", "TrunkCall", "Station", "SimError",
           "render_dtmf"]

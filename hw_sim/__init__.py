"""trunkline.hw_sim: the software telephony card (C core through cffi) and its far end.

    card = open_card("sim://default")        # the same card the driver opens by URL
    sim = Switch(card)                        # the PSTN side: scripted callers, station phones
"""
from trunkline.hw_sim.card import SimCard, forget_card, open_card, parse_sim_url
from trunkline.hw_sim.switch import Phone, SimError, Station, Switch, TrunkCall, render_dtmf

__all__ = ["SimCard", "open_card", "forget_card", "parse_sim_url", "Switch", "Phone", "TrunkCall", "Station", "SimError",
           "render_dtmf"]

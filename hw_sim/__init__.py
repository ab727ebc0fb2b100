"""trunkline.hw_sim: the software telephony card's core (C through cffi): spans, channels, CAS,
D-channels, alarms and the clock, opened by URL as the sim:// driver backend does.

    card = open_card("sim://default")        # the same card the driver opens by URL

The far end that talks to it (PSTN switch, scripted callers, trunk far ends) is `trunkline.pstn`.
"""
from trunkline.hw_sim.card import SimCard, forget_card, open_card, parse_sim_url

__all__ = ["SimCard", "open_card", "forget_card", "parse_sim_url"]

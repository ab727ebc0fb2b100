"""TestCalls on the engine's station handler (card simulator, virtual time): an armed station's off hook runs
the inbound route with the chosen called number and caller ID; the next off hook on the same station (not
armed) runs the station features as before; the call firewall still applies; bad numbers are refused."""
import pytest

from trunkline.ivr.testcall import TestCalls
from trunkline.pstn import SimRig


def test_armed_station_runs_the_inbound_route_others_the_station_features():
    rig = SimRig.with_query("fxo=1&fxs=1", name="testcall-unit")
    engine = rig.engine
    routed, featured = [], []

    async def route(call):
        routed.append((call.called, call.caller_id, call.direction, call.vars.get("test_call_user")))
        await call.hangup()

    async def features(call):
        featured.append(call.channel)
        await call.hangup()

    engine.route(route)
    engine.on_station(features)
    engine.screen = lambda call: ("reject", 21) if call.caller_id == "666" else None
    tc = TestCalls.install(engine)
    ch = engine.stations[0]
    with pytest.raises(ValueError):
        tc.arm(ch, "95588; drop table", user="boss")

    async def offhook_once():
        st = rig.sim.station(0)
        st.offhook()
        await rig.sim.sleep(1.0)
        st.onhook()
        await rig.sim.sleep(1.0)

    async def main():
        await rig.sim.sleep(0.5)
        tc.arm(ch, "95588", "13800138000", user="boss")
        await offhook_once()                   # armed: the inbound route, as from a trunk
        await offhook_once()                   # not armed: the station features
        tc.arm(ch, "95588", "666", user="boss")
        await offhook_once()                   # the firewall refuses this caller before the route
    rig.run(main, limit=30)
    assert routed == [("95588", "13800138000", "in", "boss")]
    assert featured == [ch] and tc.placed == 2

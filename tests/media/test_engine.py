"""The engine's wiring: the fax service handed down at start-up (or its absence, reported at once) and
spans whose signaling cannot be built (an error at start-up, never a span left silently unused)."""
import pytest

from trunkline.media import ChannelError, Engine


def test_fax_without_a_fax_service_fails_at_once(make_rig, tmp_path):
    """An engine built without fax_endpoint_factory: send_fax/receive_fax raise ChannelError (cause 63)
    before any media time passes; the call itself goes on."""
    assert make_rig("fxo=1").engine.can_fax                  # the rig wires trunkline.fax.FaxEndpoint
    rig = make_rig("fxo=1", fax_endpoint_factory=None)
    assert not rig.engine.can_fax
    seen = []

    async def flow(call):
        await call.answer()
        for attempt in (call.receive_fax(str(tmp_path / "in.tif")), call.send_fax(str(tmp_path / "out.tif"))):
            t0 = rig.engine.now
            with pytest.raises(ChannelError) as err:
                await attempt
            seen.append((err.value.cause, rig.engine.now - t0, "fax" in err.value.reason))
        await call.wait(0.5)
    rig.engine.route(flow)

    async def scenario():
        phone = rig.sim.call("1", from_="")
        await phone.wait_answer()
        await phone.wait_hangup(timeout=10)
        return phone.cause
    cause = rig.run(scenario)
    assert seen == [(63, 0.0, True), (63, 0.0, True)]
    assert cause == 16                                       # the flow ended normally and cleared the call


def test_a_span_without_signaling_stops_the_start_up(make_rig):
    """No signaling stack for a span: the Engine constructor raises with the reason."""
    rig = make_rig("e1=1")
    with pytest.raises(ValueError, match="unknown signaling 'sip' for span 0"):
        Engine(rig.board, trunk_signaling="sip")

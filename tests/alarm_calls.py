"""Shared by the span-alarm tests (PRI, R2): the alarm bit and a caller who stays on the line."""

LOS = 1          # red alarm / loss of signal (hw_sim alarm bits)


def up_call(rig, ended):
    """A caller answered by a flow that stays on the line; `ended` gets each engine call that ends."""
    eng = rig.engine

    async def flow(call):
        await call.answer()
        await call.wait(3600)

    eng.route(flow)
    eng.on_call_end(ended.append)

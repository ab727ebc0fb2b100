"""Every area's tables, registered on the one `Base`, and the migrations that act on them.

Importing this module imports each area's models, so `migrate`, `schema_diff` and
`make_revision` (from `trunkline.data.schema`) see the whole schema.
"""
import trunkline.acd.models
import trunkline.data.alarm_models
import trunkline.data.mail_models
import trunkline.data.models
import trunkline.data.sms_models
import trunkline.drivers.sip.trunk_models
import trunkline.ivr.dialplan_models
import trunkline.ivr.models
from trunkline.data.schema import make_revision, migrate, schema_diff

#: the modules whose import defines tables on `trunkline.data.db.Base`
MODEL_MODULES = (trunkline.data.models, trunkline.data.sms_models, trunkline.data.mail_models, trunkline.acd.models,
                 trunkline.ivr.models, trunkline.data.alarm_models, trunkline.ivr.dialplan_models,
                 trunkline.drivers.sip.trunk_models)

__all__ = ["MODEL_MODULES", "load_models", "make_revision", "migrate", "schema_diff"]


def load_models() -> list[str]:
    """The names of the model modules (all imported with this module)."""
    return [m.__name__ for m in MODEL_MODULES]

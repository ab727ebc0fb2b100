"""trunkline.fax: Group 3 fax (T.30, T.4/T.6, V.21 and high-speed modems, TIFF-F) over 8 kHz audio, the fax
bank that runs an engine's sessions together per tick, and T.30 as a T.38 terminal (T38Endpoint) on SIP calls."""
from .bank import FaxBank
from .endpoint import FaxEndpoint
from .result import FaxResult
from .t38_endpoint import T38Endpoint

__all__ = ["FaxBank", "FaxEndpoint", "FaxResult", "T38Endpoint"]

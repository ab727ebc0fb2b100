"""trunkline.fax: Group 3 fax (T.30, T.4/T.6, V.21 and high-speed modems, TIFF-F) over 8 kHz audio."""
from .bank import FaxBank
from .endpoint import FaxEndpoint
from .result import FaxResult

__all__ = ["FaxBank", "FaxEndpoint", "FaxResult"]

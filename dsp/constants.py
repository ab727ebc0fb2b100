"""The media time base shared by every layer: sample rate and block length."""

RATE = 8000            #: samples per second on every channel (G.711 narrowband)
BLOCK = 160            #: samples per channel per engine tick
BLOCK_SECONDS = BLOCK / RATE   #: seconds per block (20 ms)

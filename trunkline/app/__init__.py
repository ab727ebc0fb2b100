"""trunkline.app: the roof: server wiring (`server`), the command line (`cli`), the schema of every
area (`schema`) and the load simulations (`simulate`, `acd_simulate`). It imports every layer;
nothing imports it."""

"""Review across runs: regression against a baseline (`compare`) and datasheet-style statistics
across units (`characterise`). Built from run files through `benchtest.results` only, so any of
it can be made again years later."""

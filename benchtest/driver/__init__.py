"""Building blocks for instrument drivers: base class, safety guard, transports, declarative SCPI."""

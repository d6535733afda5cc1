"""Building blocks of instrument drivers: base class, safety guard, transport, declarative SCPI."""

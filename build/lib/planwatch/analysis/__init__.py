"""Pure analysis: plain data in, findings out; no I/O, no clock."""

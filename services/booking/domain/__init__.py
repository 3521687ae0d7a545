"""Pure booking rules: no I/O, standard library only."""

"""The booking core: pure domain rules, handlers (one unit of work each) and persistence."""

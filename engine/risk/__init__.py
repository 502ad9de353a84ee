"""Risk layers of SPEC §9: validation, pre-trade, circuit breakers, global limits, time rules."""

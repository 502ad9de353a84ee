"""Risk layers of seed §9: validation, pre-trade, circuit breakers, global limits, time rules."""

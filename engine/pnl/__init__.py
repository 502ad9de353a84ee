"""Fee-aware P&L: fees, positions, realized/unrealized/daily P&L, settlement."""

"""Agents of the simulated world: the market-maker and the random takers.

Their cores are pure (inputs: time, fair values, a seeded ``random.Random``; outputs: plans of
venue calls). ``sim.world`` executes the plans against anything that satisfies
``VenueProtocol`` — the real ``sim.venue.core.Venue`` or ``sim.agents.fake_venue.FakeVenue``.
"""

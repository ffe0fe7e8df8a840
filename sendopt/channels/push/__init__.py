"""Push notifications: MCC affinities, candidate strategies and the orchestrated daily decision."""

"""Exponential backoff with jitter, shared by upload retries and WebSocket reconnects."""

import dataclasses
import random


@dataclasses.dataclass
class Backoff:
    """Delay before retry `attempt` (0-based): base * 2**attempt capped at `cap`, drawn from [d/2, d]."""

    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = dataclasses.field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        # Jitter spreads the retries of many ingesters (and parts) that failed at the same moment.
        d = min(self.cap, self.base * 2 ** min(attempt, 32))
        return d / 2 + self.rng.random() * d / 2

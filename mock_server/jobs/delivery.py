"""The record of one webhook delivery: where, which event, when due, and every attempt so far."""

from dataclasses import asdict, dataclass, field

from mock_server.clock import iso


@dataclass
class Delivery:
    request_id: str
    event: str
    url: str
    due: float
    attempts: int = 0
    state: str = "pending"  # pending, sending, delivered, failed
    last_error: str | None = None
    history: list = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.request_id}:{self.event}"

    def to_dict(self) -> dict:
        return {"id": self.id, "request_id": self.request_id, "event": self.event, "url": self.url,
                "due": iso(self.due), "attempts": self.attempts, "state": self.state, "last_error": self.last_error,
                "history": self.history}

    def to_record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, data: dict) -> "Delivery":
        return cls(**data)

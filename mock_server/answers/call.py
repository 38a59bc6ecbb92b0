"""What a generated answer is drawn for (no hypothesis here: the request path imports it)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Call:
    """What an answer is drawn for: the operation, the HTTP status it answers, and the call's facts
    (request_id, model_id, media_url: [urls], polling_url, media_type, media_width, media_height: what the media
    URLs serve, created_at: the job's epoch seconds, answered_at: the moment the answer describes), as far as the
    call has them."""

    operation_id: str
    status: int
    facts: dict = field(default_factory=dict)
    variant: str | None = None  # the named response variant answering (None: the operation's default)
    beyond_contract: bool = False  # drawn from the schema alone, past the pages' constraints on purpose

    @property
    def known_facts(self) -> frozenset[str]:
        return frozenset(name for name, value in self.facts.items() if value)

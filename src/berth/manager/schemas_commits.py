"""API schemas of commit to image (issue 12): the commit task and customized images."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from berth.manager.schemas import In


class CommitIn(In):
    model_config = ConfigDict(extra="forbid")
    # The name rule (4-32 letters, digits, '-', '_') is checked by the service, so that a
    # bad name is a 422 naming the field with the rule in words.
    name: str = Field(max_length=256, description="The customized image's name: 4 to 32 "
                      "letters, digits, '-' and '_'.")


class CommitOut(BaseModel):
    """A commit task. ``status``: pending, running, done or failed (``reason`` says why);
    ``phase``: preparing, committing, scrubbing, done or failed; ``progress`` 0-100 by phase;
    ``size`` in bytes once the image exists; ``image`` the full image name to launch."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    session_id: str
    owner_id: str
    name: str
    image: str = Field(validation_alias="ref")
    status: str
    phase: str
    progress: int
    size: int | None
    reason: str
    created_at: datetime
    finished_at: datetime | None


class CustomizedImageOut(BaseModel):
    """A customized image: ``ref`` is its full name (what to launch), ``name`` the one its
    owner gave, ``base`` the image it was made from."""

    ref: str
    name: str
    owner_id: str
    owner_email: str | None = None
    base: str
    display_name: str
    version: str
    agents: list[str]
    updated_at: datetime

"""API schemas of storage folders, shares, hosts and the file explorer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from berth.domain import limits as lim
from berth.manager.schemas import In

Permission = Literal["rw", "ro"]
UsageMode = Literal["general", "data", "model"]
NAME_RULE = ("1-64 characters: letters, digits, '.', '_', '-'; not '.' or '..'; unique per "
             "owner; a name starting with '.' is mounted into every session of its owner at "
             "/home/work/.NAME.")


class FolderCreate(In):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=lim.FOLDER_NAME_MAX, description=NAME_RULE)
    host: str | None = Field(None, max_length=64, description="Folder host; default: the "
                             "configured default host.")
    usage_mode: UsageMode = "general"
    permission: Permission = Field("rw", description="The most any mount of it gets.")
    project: str | None = Field(None, max_length=64, description="Make it a folder of this "
                                "project (you must be a member); default: yours.")


class FolderUpdate(In):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=lim.FOLDER_NAME_MAX, description=NAME_RULE)
    usage_mode: UsageMode | None = None
    permission: Permission | None = None


class FolderRestore(In):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=lim.FOLDER_NAME_MAX,
                             description="A new name, when the old one is taken again.")


class FolderOut(BaseModel):
    id: str
    name: str
    host: str
    status: Literal["ready", "trashed"]
    trashed_at: datetime | None
    created_at: datetime
    owner_kind: Literal["user", "project"]
    owner_id: str
    owner_name: str = Field(description="The owner's email, or the project's name.")
    usage_mode: UsageMode
    permission: Permission = Field(description="The most any mount of it gets.")
    my_permission: Permission = Field(description="What you may do with its files.")
    is_owner: bool = Field(description="You may rename, delete and share it.")
    shared_with_me: bool
    auto_mount: bool = Field(description="Mounted into every session of its owner at "
                             "/home/work/<name> (its name starts with '.').")
    usage_bytes: int | None = Field(description="Disk space its files take; null while not "
                                    "measured yet (measured in the background).")
    usage_files: int | None
    usage_measured_at: datetime | None
    usage_complete: bool = Field(True, description="False when the count stopped early "
                                 "(a huge folder): the figures are a lower bound.")


class ShareIn(In):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=lim.EMAIL_MAX)
    permission: Permission = "ro"


class ShareOut(BaseModel):
    folder_id: str
    user_id: str
    email: str
    permission: Permission
    created_at: datetime


class HostOut(BaseModel):
    name: str
    path: str
    capabilities: list[str]
    total_bytes: int
    used_bytes: int
    free_bytes: int
    folders: int = Field(description="Folders on it, the trash included.")


class EntryOut(BaseModel):
    name: str
    path: str
    type: Literal["file", "dir", "symlink", "other"]
    size: int
    modified: datetime
    mode: int


class FileList(BaseModel):
    path: str
    total: int
    offset: int
    limit: int
    entries: list[EntryOut]


PathText = Field(max_length=lim.FILE_PATH_MAX, description="Relative to the folder's root; "
                 "'/'-separated; '' is the root.")


class MkdirIn(In):
    model_config = ConfigDict(extra="forbid")
    path: str = PathText
    parents: bool = Field(False, description="Create missing parents; no error if it exists.")


class MoveIn(In):
    model_config = ConfigDict(extra="forbid")
    src: str = PathText
    dst: str = PathText

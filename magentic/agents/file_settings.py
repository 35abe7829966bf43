"""The `[file_surfer]` table. A leaf module (pydantic only), so reading a config does not
import the FileSurfer, markitdown or a model SDK."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FileSurferSettings(BaseModel):
    """The FileSurfer's knobs (the `[file_surfer]` table of a config file)."""

    model_config = ConfigDict(extra="forbid")
    page_tokens: int = Field(default=1500, ge=100, le=32000, description="estimated tokens a page")
    max_file_mb: float = Field(default=50.0, gt=0, description="larger files are refused")
    # Seconds one file's conversion may take before its worker process is killed.
    conversion_timeout_s: float = Field(default=120.0, gt=0)
    conversion_memory_mb: int = Field(
        default=1024, ge=256, description="address-space limit of the conversion process"
    )
    max_unpacked_mb: float = Field(
        default=256.0, gt=0, description="a ZIP container (docx, xlsx, ...) may unpack to this"
    )
    max_zip_ratio: float = Field(
        default=100.0, gt=1, description="nor to more than this many times its size on disk"
    )
    find_context_chars: int = Field(
        default=80, ge=10, le=1000, description="text shown around a match"
    )
    max_listed_hits: int = Field(default=10, ge=1, le=100, description="matches listed per find")
    history_messages: int = Field(default=6, ge=0, le=50, description="team messages in the prompt")
    history_chars: int = Field(default=2000, ge=100, description="cut each history message to this")
    max_image_mb: float = Field(
        default=5.0, ge=0, description="an opened image up to this is attached"
    )

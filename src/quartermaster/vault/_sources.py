"""Handles and the two sources outside the vault: environment variables and files.

A missing variable or file, and an empty value, are errors that name the handle: a credential
never silently becomes the empty string.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import anyio.to_thread

from quartermaster.config import is_secret_handle

from ._errors import SecretEmpty, SecretNotFound, VaultError
from ._secret import SecretValue

Scheme = Literal["secret", "env", "file"]

_MAX_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class Handle:
    """A parsed handle: ``secret://NAME``, ``env://VAR`` or ``file:///absolute/path``."""

    scheme: Scheme
    target: str

    @classmethod
    def parse(cls, text: str) -> Handle:
        """Parse a handle.

        Raises:
            ValueError: ``text`` is not a well-formed handle.
        """
        if not is_secret_handle(text):
            raise ValueError(
                "not a secret handle: expected secret://NAME, env://VAR or file:///absolute/path"
            )
        scheme, _, target = text.partition("://")
        if scheme == "secret":
            return cls("secret", target)
        if scheme == "env":
            return cls("env", target)
        return cls("file", target)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.target}"


def read_env(handle: Handle, environ: Mapping[str, str]) -> SecretValue:
    """The value of an ``env://`` handle.

    Raises:
        SecretNotFound: the variable is not set.
        SecretEmpty: the variable is set to the empty string.
    """
    value = environ.get(handle.target)
    if value is None:
        raise SecretNotFound(str(handle), None, f"environment variable {handle.target} is not set")
    if value == "":
        raise SecretEmpty(str(handle))
    return SecretValue(value)


def _read_file(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        # A FIFO or device could block or never end; only a regular file is a secret file.
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise IsADirectoryError(path)
        return handle.read(_MAX_FILE_BYTES + 1)


async def read_file(handle: Handle) -> SecretValue:
    """The contents of a ``file://`` handle as UTF-8 text, without one trailing line break.

    Raises:
        SecretNotFound: the file does not exist.
        SecretEmpty: the file is empty (or holds only a line break).
        VaultError: the file is not a readable regular UTF-8 text file of at most 1 MiB.
    """
    path = Path(handle.target)
    try:
        data = await anyio.to_thread.run_sync(_read_file, path)
    except FileNotFoundError:
        raise SecretNotFound(str(handle), None, f"file {path} does not exist") from None
    except OSError as exc:
        reason = "not a regular file" if isinstance(exc, IsADirectoryError) else exc.strerror
        raise VaultError(f"secret {handle} cannot be read: {reason}") from None
    if len(data) > _MAX_FILE_BYTES:
        raise VaultError(f"secret {handle} is larger than 1 MiB; that is not a credential")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise VaultError(f"secret {handle} is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if text == "":
        raise SecretEmpty(str(handle))
    return SecretValue(text)

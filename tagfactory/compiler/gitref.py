"""Definitions as they were at a git ref, for ``tagfactory plan --base``.

Only ``git`` itself is used (``merge-base``, ``archive``); nothing is checked out, so the working
tree is never touched.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from tagfactory.errors import CompileError


class GitError(CompileError, ValueError):
    """Git is missing, the folder is not in a repository, or the ref does not exist."""


def _git(repo: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False, timeout=120)
    except FileNotFoundError:
        raise GitError("git is not installed; `tagfactory plan` needs it to read the base definitions") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {' '.join(args)}: {message[-1] if message else 'failed'}")
    return done.stdout


def repo_root(path: Path) -> Path:
    """Top folder of the git repository holding ``path``."""
    folder = path if path.is_dir() else path.parent
    return Path(_git(folder.resolve(), "rev-parse", "--show-toplevel").decode().strip())


def default_base(repo: Path) -> str:
    """The merge-base of HEAD with ``origin/main``, ``main``, ``origin/master`` or ``master``."""
    for candidate in ("origin/main", "main", "origin/master", "master"):
        try:
            return _git(repo, "merge-base", "HEAD", candidate).decode().strip()
        except GitError:
            continue
    raise GitError("no main branch to compare with (tried origin/main, main, origin/master, master); "
                   "pass --base <ref>")


def describe(repo: Path, ref: str) -> str:
    """Short commit id of a ref, e.g. ``1c29182``."""
    return _git(repo, "rev-parse", "--short", f"{ref}^{{commit}}").decode().strip()


def export_definitions(repo: Path, ref: str, definitions: Path, dest: Path) -> Path:
    """Write the definitions folder as of ``ref`` under ``dest``; return its path there.

    The folder may not exist at ``ref`` (the first definitions commit): the result is then an
    empty folder, and everything at HEAD counts as added.
    """
    rel = definitions.resolve().relative_to(repo.resolve())
    out = dest / rel
    out.mkdir(parents=True, exist_ok=True)
    _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    listing = _git(repo, "ls-tree", "-r", "--name-only", ref, "--", rel.as_posix()).decode().splitlines()
    if not listing:
        return out
    data = _git(repo, "archive", "--format=tar", ref, "--", rel.as_posix())
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(dest, filter="data")
    return out

"""What the scripts that read other signers' photos or landmarks out of a git clone share:
reading the clone, and writing a zip so that a failure leaves no zip behind."""
import contextlib
import os
import subprocess
import sys
import zipfile


def git(git_dir, *args):
    """git's output, or exit naming the command and git's own error."""
    done = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True)
    if done.returncode != 0:
        sys.exit(f"{git_dir}: git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


@contextlib.contextmanager
def atomic_zip(out):
    """A zip written beside `out` as `out.part`, synced and renamed to `out` only when the body
    finishes; on any failure (an exit included) the part file is removed."""
    part = out + ".part"
    try:
        with zipfile.ZipFile(part, "w", zipfile.ZIP_STORED) as z:
            yield z
        with open(part, "rb") as f:
            os.fsync(f.fileno())
        os.replace(part, out)
    except BaseException:
        if os.path.exists(part):
            os.remove(part)
        raise

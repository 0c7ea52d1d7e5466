"""Two runs on one assets folder serialise: the second waits for the first and says why."""

import subprocess
import sys
import textwrap

import pytest

from pipelines.cli.lock import assets_lock

CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from pipelines.cli.lock import assets_lock
    with assets_lock(Path(sys.argv[1]), wait=False):
        print("got it")
""")


def test_second_holder_is_refused_while_the_first_holds_and_admitted_after(tmp_path):
    with assets_lock(tmp_path):
        p = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=60)
        assert p.returncode != 0 and "another xpertbench run (pid" in p.stderr
    p = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "got it" in p.stdout


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", CHILD.replace('print("got it")', 'print("got it", flush=True); import time; time.sleep(600)'),
                               str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "got it"
        with pytest.raises(RuntimeError, match="another xpertbench run"):
            with assets_lock(tmp_path, wait=False):
                pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with assets_lock(tmp_path, wait=False):  # the kernel released it with the process
        pass

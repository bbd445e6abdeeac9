"""Peak resident memory of a script run in a fresh Python process (the memory tests).

The script gets ``hwm()``: the process's peak resident set size so far, in bytes (Linux
``VmHWM``); it prints what the test asserts on, and :func:`run_measured` returns the printed
words.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

HWM = '''
def hwm():
    """This process's peak resident set size so far, bytes (Linux /proc/self/status)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
'''


def run_measured(script: str, timeout: float = 600) -> list[str]:
    """Run ``script`` (with :data:`HWM` before it) in a new interpreter; its stdout's words."""
    code = HWM + textwrap.dedent(script)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=timeout)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.split()

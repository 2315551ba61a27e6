# Peerplane's shim for Debian's azure-cli 2.45 (Azure/azure-cli#24959).
#
# Debian builds azure-cli 2.45 against a newer azure-mgmt-authorization than
# the one Microsoft pins. Its operation classes keep their configuration in
# "self._config", while az's role module still reads "client.config", so
#
#     az role assignment create ...
#
# dies with "AttributeError: 'RoleAssignmentsOperations' object has no
# attribute 'config'" before it sends a single request (az role definition
# list/delete and az role assignment list hit the same wall).
#
# Put the directory holding this file on PYTHONPATH and Python imports it at
# start-up (the site module imports "sitecustomize"). It installs an import
# hook and nothing else: when a module azure.mgmt.authorization.*.operations.*
# is loaded, each "...Operations" class defined there that has no "config"
# gets a "config" property that reads and writes "self._config". Nothing is
# imported eagerly, so az starts as fast as before, and a program that never
# imports azure.mgmt.authorization is untouched.
#
#     export PYTHONPATH=/path/to/scripts/az-shim${PYTHONPATH:+:$PYTHONPATH}
#
# or let "peerplane azure az-env --shim" print that line.
#
# Microsoft's own az builds (pip, the MSI, Microsoft's apt repository,
# packages.microsoft.com) bundle a matching SDK and need no shim; on them this
# file changes nothing because the classes there either have "config" already
# or are never patched twice.
#
# Last, it runs the sitecustomize it shadows (Debian's installs apport's
# hook), so putting it on PYTHONPATH loses nothing.

import importlib.machinery
import os
import sys

_PACKAGE = "azure.mgmt.authorization."


def _add_config_property(module):
    """Give each *Operations class defined in module a config property."""
    for name, cls in list(vars(module).items()):
        if not isinstance(cls, type) or not name.endswith("Operations"):
            continue
        if cls.__module__ != module.__name__ or hasattr(cls, "config"):
            continue

        def _get(self):
            return self._config

        def _set(self, value):
            self._config = value

        cls.config = property(_get, _set, doc="Alias of _config (Azure/azure-cli#24959 shim).")


class _AuthorizationOperationsFinder:
    """A meta path finder that lets the normal finders find the module and
    wraps its loader's exec_module to patch the module once it has run."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(_PACKAGE) or ".operations" not in fullname:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None or getattr(exec_module, "_peerplane_shim", False):
            return spec

        def patched_exec_module(module):
            exec_module(module)
            _add_config_property(module)

        patched_exec_module._peerplane_shim = True
        try:
            loader.exec_module = patched_exec_module
        except (AttributeError, TypeError):
            pass  # a loader that refuses new attributes: leave the module alone
        return spec

    def invalidate_caches(self):
        pass


def _run_shadowed_sitecustomize():
    here = os.path.dirname(os.path.realpath(__file__))
    rest = [p for p in sys.path if os.path.realpath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    try:
        code = spec.loader.get_code("sitecustomize")
        exec(code, {"__name__": "_shadowed_sitecustomize", "__file__": spec.origin})
    except Exception:  # a broken site hook must not break az
        pass


if not any(isinstance(f, _AuthorizationOperationsFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _AuthorizationOperationsFinder())
_run_shadowed_sitecustomize()

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
# The same mismatch bites once more under the 2020-09-01-hybrid profile that
# Debian's az needs for "az network": there az creates role assignments with
# the 2015-07-01 API and hands the SDK a bare RoleAssignmentProperties, which
# the newer SDK serializes flat, {"roleDefinitionId": ..., "principalId": ...},
# instead of the documented {"properties": {...}}; Azure refuses that body.
#
# Put the directory holding this file on PYTHONPATH and Python imports it at
# start-up (the site module imports "sitecustomize"). It installs an import
# hook and nothing else: when a module azure.mgmt.authorization.*.operations.*
# is loaded,
#
#   - each "...Operations" class defined there that has no "config" gets a
#     "config" property that reads and writes "self._config";
#   - the 2015-07-01 RoleAssignmentsOperations.create wraps a bare
#     RoleAssignmentProperties in RoleAssignmentCreateParameters.
#
# Nothing is imported eagerly, so az starts as fast as before, and a program
# that never imports azure.mgmt.authorization is untouched.
#
#     export PYTHONPATH=/path/to/scripts/az-shim${PYTHONPATH:+:$PYTHONPATH}
#
# or let "peerplane azure az-env --shim" print that line.
#
# Microsoft's own az builds (pip, the MSI, Microsoft's apt repository,
# packages.microsoft.com) bundle a matching SDK and use the latest API profile,
# so they need no shim; should it be loaded there anyway, it changes nothing
# that works: classes that have "config" keep it, and a create call that is
# already given RoleAssignmentCreateParameters passes through unchanged.
#
# Last, it runs the sitecustomize it shadows (Debian's installs apport's
# hook), so putting it on PYTHONPATH loses nothing: the first one on sys.path
# that is not a copy of this shim, so the shim never runs itself again (this
# file is reached through the symbolic link scripts/az-shim/sitecustomize.py,
# and "az-env --shim" writes a copy of it).

import functools
import importlib.machinery
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
    if module.__name__.startswith("azure.mgmt.authorization.v2015_07_01.operations"):
        _wrap_role_assignment_properties(getattr(module, "RoleAssignmentsOperations", None))


def _wrap_role_assignment_properties(cls):
    """Make cls.create send {"properties": ...} when given bare properties."""
    if cls is None or cls.__dict__.get("create") is None:
        return
    create = cls.__dict__["create"]
    if getattr(create, "_peerplane_shim", False):
        return

    @functools.wraps(create)  # keeps create.metadata, which the SDK reads
    def wrapped_create(self, scope, role_assignment_name, parameters, *args, **kwargs):
        from azure.mgmt.authorization.v2015_07_01 import models

        if isinstance(parameters, models.RoleAssignmentProperties):
            parameters = models.RoleAssignmentCreateParameters(properties=parameters)
        return create(self, scope, role_assignment_name, parameters, *args, **kwargs)

    wrapped_create._peerplane_shim = True
    cls.create = wrapped_create


class _AuthorizationOperationsFinder:
    """A meta path finder that lets the normal finders find the module and
    wraps its loader's exec_module to patch the module once it has run."""

    _peerplane_shim = True

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


# The first line of this file, and of every copy of it: "peerplane azure
# az-env --shim" writes a copy into the az configuration directory, and
# scripts/az-shim/sitecustomize.py is a symbolic link to this file, so one
# PYTHONPATH may name the shim twice, under different paths.
_SHIM_MARK = "# Peerplane's shim for Debian's azure-cli"


def _is_shim(path):
    """Whether the file at path is this shim or a copy of it."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().startswith(_SHIM_MARK)
    except (OSError, UnicodeDecodeError):
        return False


def _run_shadowed_sitecustomize():
    """Run the first sitecustomize on sys.path that is not a shim.

    Skipping every copy of the shim, not just this file's directory, is what
    keeps the shim from running itself again (through a symbolic link, or a
    second copy later on PYTHONPATH) until Python's recursion limit."""
    for entry in sys.path:
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", [entry])
        if spec is None or spec.loader is None or not spec.origin or _is_shim(spec.origin):
            continue
        try:
            code = spec.loader.get_code("sitecustomize")
            exec(code, {"__name__": "_shadowed_sitecustomize", "__file__": spec.origin})
        except Exception:  # a broken site hook must not break az
            pass
        return


if not any(getattr(f, "_peerplane_shim", False) for f in sys.meta_path):
    sys.meta_path.insert(0, _AuthorizationOperationsFinder())
_run_shadowed_sitecustomize()

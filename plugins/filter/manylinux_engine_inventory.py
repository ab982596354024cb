"""Filters: the build engines of the inventory (group manylinux_engines), each with what its host itself sets."""


def manylinux_engine_vars(names, hostvars, reference):
    """[{name, vars}] of the engine hosts `names`: each host's variables that the controller host
    `reference` does not have too (so not the inventory's `all` variables), without Ansible's own
    (ansible_*), so that module manylinux_build_engines can name a key no engine has."""
    shared = set(hostvars[reference].keys())
    engines = []
    for name in names or []:
        own = hostvars[name]
        keys = sorted(k for k in own.keys() if k not in shared and not k.startswith("ansible_"))
        engines.append({"name": name, "vars": {k: own[k] for k in keys}})
    return engines


class FilterModule(object):
    def filters(self):
        return {"manylinux_engine_vars": manylinux_engine_vars}

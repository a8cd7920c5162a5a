"""Runs Argo CD resource health scripts the way Argo CD does, in a real Lua interpreter (lupa).

Mirrors argo-cd's util/lua: the object is the global `obj`; a script from argocd-cm gets only
the base, table and package libraries and a "safe" os (clock, date, difftime, time), no string
or io; the returned table must carry a known status, otherwise Argo CD reports Unknown.
`run_health_tests` walks a health_test.yaml as argo-cd's resource_customizations test does.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lupa import lua54

VALID_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
INVALID_STATUS_MESSAGE = "Lua returned an invalid health status"

# Globals Argo CD's OpenBase, OpenTable, OpenPackage and OpenSafeOs give a script.
_SANDBOX = """
local script, obj = ...
local safe_os = {clock = os.clock, date = os.date, difftime = os.difftime, time = os.time}
local env = {
  assert = assert, error = error, getmetatable = getmetatable, ipairs = ipairs, next = next,
  pairs = pairs, pcall = pcall, print = print, rawequal = rawequal, rawget = rawget,
  rawset = rawset, select = select, setmetatable = setmetatable, tonumber = tonumber,
  tostring = tostring, type = type, unpack = table.unpack, xpcall = xpcall,
  table = table, os = safe_os, require = require, obj = obj,
}
env._G = env
local chunk, err = load(script, "=health.lua", "t", env)
if chunk == nil then error(err) end
return chunk()
"""


@dataclass(frozen=True)
class Health:
    status: str
    message: str


def evaluate(script: str, obj: dict[str, Any]) -> Health:
    """Health of `obj` according to `script`; raises on a Lua error, as Argo CD does."""
    lua = lua54.LuaRuntime(unpack_returned_tuples=False)
    result = lua.execute(_SANDBOX, script, lua.table_from(obj, recursive=True))
    if lua.globals().type(result) != "table":
        raise TypeError(f"expect table output from Lua script, not {lua.globals().type(result)}")
    status = result["status"] or ""
    if status not in VALID_STATUSES:
        return Health("Unknown", INVALID_STATUS_MESSAGE)
    return Health(str(status), str(result["message"] or ""))


@dataclass(frozen=True)
class CaseResult:
    input_path: str
    expected: Health
    actual: Health


def run_health_tests(customization_dir: Path) -> list[CaseResult]:
    """Every case of `<dir>/health_test.yaml`, evaluated with `<dir>/health.lua`."""
    script = (customization_dir / "health.lua").read_text()
    spec = yaml.safe_load((customization_dir / "health_test.yaml").read_text())
    results = []
    for case in spec["tests"]:
        obj = yaml.safe_load((customization_dir / case["inputPath"]).read_text())
        expected = Health(case["healthStatus"]["status"], case["healthStatus"].get("message", ""))
        results.append(CaseResult(case["inputPath"], expected, evaluate(script, obj)))
    return results

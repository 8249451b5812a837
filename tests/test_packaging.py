"""Packaging (issue 17): the package is typed (PEP 561 ``py.typed``), and the stubs of the
compiled modules (pydl/_core.pyi, pydl/_core64.pyi) are complete and accurate: every public
binding has a stub entry, every stub entry is a binding, and each function's parameter names
are those pybind11 reports. Run by .ci/wheel against the installed wheel too."""
import ast
import importlib
import importlib.metadata
import inspect
import re
from pathlib import Path

import pytest

import pydl

PACKAGE = Path(pydl.__file__).parent


def test_the_package_is_typed_and_its_version_is_the_metadata_version():
    assert (PACKAGE / "py.typed").is_file()
    assert pydl.__version__ == importlib.metadata.version("pydl")


def stub_tree(module_name):
    path = PACKAGE / f"{module_name}.pyi"
    assert path.is_file(), f"no stub file {path.name}"
    return ast.parse(path.read_text())


def stub_entries(body):
    """{name: node} of the functions, classes and annotated/assigned names of a stub body;
    overloads of one function collected in a list."""
    out = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.setdefault(node.target.id, []).append(node)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out.setdefault(t.id, []).append(node)
    return out


def public(names):
    return {n for n in names if not n.startswith("_")}


def runtime_members(obj):
    """Public names a binding defines itself (a module's attributes that are not imported
    Python modules; a class's own dict)."""
    if inspect.isclass(obj):
        return public(vars(obj))
    return public(n for n in dir(obj) if not inspect.ismodule(getattr(obj, n)) or n == "kernels")


SIGNATURE = re.compile(r"^\s*(?:\d+\. )?(\w+)\((.*)\)\s*->", re.M)


def doc_parameter_names(obj):
    """The parameter names of each overload, from pybind11's docstring signatures."""
    sigs = []
    for m in SIGNATURE.finditer(obj.__doc__ or ""):
        args, depth, cur = [], 0, ""
        for ch in m.group(2) + ",":
            if ch in "[(":
                depth += 1
            elif ch in "])":
                depth -= 1
            if ch == "," and depth == 0:
                if cur.strip():
                    args.append(cur.strip().split(":")[0].split("=")[0].strip().lstrip("*"))
                cur = ""
            else:
                cur += ch
        sigs.append([a for a in args if a not in ("self", "/")])
    return sigs


def stub_parameter_names(fn):
    a = fn.args
    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
    if a.vararg:
        names.append(a.vararg.arg)
    if a.kwarg:
        names.append(a.kwarg.arg)
    return [n for n in names if n not in ("self", "cls")]


def check_scope(label, obj, body):
    stubs = stub_entries(body)
    have = runtime_members(obj)
    missing = sorted(have - set(stubs))
    assert not missing, f"{label}: bindings without a stub entry: {missing}"
    stale = sorted(public(stubs) - have - {"__all__"})
    assert not stale, f"{label}: stub entries that are no binding: {stale}"
    checked = 0
    for name in sorted(have):
        member = getattr(obj, name)
        nodes = stubs[name]
        if isinstance(nodes[0], ast.ClassDef):
            checked += check_scope(f"{label}.{name}", member, nodes[0].body)
            continue
        if not isinstance(nodes[0], ast.FunctionDef) or not callable(member):
            continue
        want = doc_parameter_names(member)
        got = [stub_parameter_names(n) for n in nodes]
        if want:
            assert sorted(got) == sorted(want), f"{label}.{name}: stub parameters {got}, binding {want}"
            checked += 1
    return checked


@pytest.mark.parametrize("module_name,functions", [("_core", 60), ("_core64", 15)])
def test_every_binding_has_an_accurate_stub(module_name, functions):
    module = importlib.import_module(f"pydl.{module_name}")
    tree = stub_tree(module_name)
    assert check_scope(module_name, module, tree.body) > functions  # signatures really compared
    declared = next((n.value for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                     and getattr(n, "target", getattr(n, "targets", [None])[0]).id == "__all__"), None)
    if declared is not None:
        assert set(ast.literal_eval(declared)) <= set(dir(module))

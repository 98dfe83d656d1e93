"""The type stubs (_asl.pyi) describe what the compiled module has, argument for argument."""

import ast
import inspect
from pathlib import Path

import asl
from asl import _asl

STUB = Path(asl.__file__).with_name("_asl.pyi")


def stub_tree():
    assert STUB.is_file() and Path(asl.__file__).with_name("py.typed").is_file()
    return ast.parse(STUB.read_text())


def params(node: ast.FunctionDef) -> list[str]:
    a = node.args
    return [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs if p.arg != "self"]


def test_every_public_name_has_a_stub_and_back():
    tree = stub_tree()
    stubbed = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    stubbed |= {t.id for n in tree.body if isinstance(n, ast.AnnAssign) for t in [n.target] if isinstance(t, ast.Name)}
    public = {n for n in dir(_asl) if not n.startswith("_")} | {"__version__"}
    assert public - stubbed == set()
    assert {n for n in stubbed if not n.startswith("_")} - public <= set()
    assert set(asl.__all__) == public


def test_function_and_method_parameters_match():
    tree = stub_tree()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            runtime = [p for p in inspect.signature(getattr(_asl, node.name)).parameters]
            assert params(node) == runtime, node.name
        if isinstance(node, ast.ClassDef):
            cls = getattr(_asl, node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                    runtime = [p for p in inspect.signature(getattr(cls, item.name)).parameters if p != "self"]
                    assert params(item) == runtime, f"{node.name}.{item.name}"
                elif isinstance(item, ast.FunctionDef):
                    assert hasattr(cls, item.name), f"{node.name}.{item.name}"

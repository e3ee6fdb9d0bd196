"""One libcst pass per file: detect legacy receivers, dispatch calls to rules, fix the imports.

`rewrite_module(source)` returns the new source and one finding per legacy site: rewritten sites
carry the catalogue rule that explains them; sites with no faithful MLflow form are left exactly as
they were and reported as `manual`. Output always parses (it is re-parsed before it is returned) and
a second pass changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.metadata import MetadataWrapper, PositionProvider

from migrate.catalogue import entry
from migrate.detect import Kind, Resolver, Scope, might_contain_legacy
from migrate.findings import Finding
from migrate.rules import Args, Context, Rewrite, Rule, load
from migrate.rules._shape import arg, call, fill
from migrate.rules.lifecycle import active_or_new

Target = Literal["mlflow", "shim"]

# Methods a person should look at even when the receiver is not provably a legacy run: they
# hardly exist outside Azure ML. (`log`, `tag` and `complete` are far too common to report.)
DISTINCTIVE = frozenset(
    {
        "log_list", "log_row", "log_table", "log_image", "log_confusion_matrix",
        "log_accuracy_table", "log_predictions", "log_residuals", "upload_file", "upload_files",
        "upload_folder", "add_properties", "child_run", "get_context", "start_logging",
    }
)  # fmt: skip
# Legacy methods with no MLflow rule: reported as manual, left untouched.
MANUAL: dict[tuple[Kind, str], str] = {
    ("run", "wait_for_completion"): "run-wait-for-completion",
    ("run", "submit_child"): "run-submit-child",
    ("run", "register_model"): "run-register-model",
    ("run", "get_metrics"): "run-get-metrics",
    ("run", "get_tags"): "run-get-tags",
    ("run", "get_properties"): "run-get-properties",
    ("run", "get_file_names"): "run-get-file-names",
    ("run", "download_file"): "run-download-file",
    ("run", "download_files"): "run-download-files",
    ("run", "get_status"): "run-get-status",
    ("run", "get_details"): "run-get-details",
    ("run", "get_children"): "run-get-children",
    ("run", "create_children"): "run-create-children",
    ("experiment", "submit"): "experiment-submit",
}
SHIM_MODULES = {"azureml.core", "azureml.core.run", "azureml.logging"}


@dataclass
class Result:
    """What one file became: its new source and its findings (in source order)."""

    source: str
    code: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.code != self.source


class RewriteError(Exception):
    """The rewritten code did not parse (a bug in a rule): the file must be left untouched."""


def bind_args(rule: Rule, node: cst.Call) -> Args | None:
    """Map the call's arguments to the legacy parameter names; None when * or ** hide them."""
    out: Args = {}
    positional = [a for a in node.args if a.keyword is None]
    if any(a.star for a in node.args):
        return None
    if len(positional) > len(rule.params):
        return None
    for name, a in zip(rule.params, positional):
        out[name] = a
    for a in node.args:
        if a.keyword is not None:
            key = a.keyword.value
            # The offline run's parameter names (tag(name=), upload_files(name=)).
            key = {"name": "key"}.get(key, key) if rule.method == "tag" else key
            key = {"name": "names"}.get(key, key) if rule.method == "upload_files" else key
            if key not in rule.params and not rule.var_keyword:
                return None
            out[key] = a
    required = {
        "log": ("name", "value"), "log_list": ("name", "value"), "log_row": ("name",),
        "log_table": ("name", "value"), "upload_file": ("name", "path_or_stream"),
        "upload_folder": ("name", "path"), "upload_files": ("names", "paths"),
        "add_properties": ("properties",), "set_tags": ("tags",), "remove_tags": ("tags",),
        "upload": ("path", "content"), "log_image": ("name",),
    }.get(rule.method, ())  # fmt: skip
    if rule.method.startswith("log_") and rule.method not in ("log_list", "log_row", "log_image"):
        required = ("name", "value")
    if any(r not in out for r in required):
        return None
    return out


class _Rewriter(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, resolver: Resolver, path: str, target: Target) -> None:
        super().__init__()
        self.r = resolver
        self.path = path
        self.target = target
        self.rules = load()
        self.functions: list[cst.FunctionDef] = []
        self.classes: list[cst.ClassDef] = []
        self.findings: list[Finding] = []
        self.needs: set[str] = set()
        self.module: cst.Module | None = None

    # -- scope tracking -------------------------------------------------------------------------
    def visit_Module(self, node: cst.Module) -> None:
        self.module = node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(node)

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        self.functions.pop()
        return updated_node

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node)

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        self.classes.pop()
        return updated_node

    def _scope(self) -> Scope:
        return self.r.scope_of(self.functions[-1] if self.functions else None)

    def kind(self, node: cst.BaseExpression) -> Kind | None:
        return self.r.kind_of(node, self._scope(), self.classes[-1] if self.classes else None)

    # -- findings -------------------------------------------------------------------------------
    def report(
        self,
        original: cst.CSTNode,
        api: str,
        rule: str,
        replacement: cst.CSTNode | None,
        detail: str = "",
        fidelity: str | None = None,
    ) -> None:
        pos = self.get_metadata(PositionProvider, original)
        assert self.module is not None
        excerpt = self.module.code_for_node(original).strip().splitlines()[0][:120]
        new = self.module.code_for_node(replacement) if replacement is not None else ""
        self.findings.append(
            Finding(
                path=self.path,
                line=pos.start.line,
                column=pos.start.column + 1,
                api=api,
                fidelity=fidelity or entry(rule).fidelity,  # type: ignore[arg-type]
                rule=rule,
                replacement=new,
                detail=detail,
                excerpt=excerpt,
            )
        )

    # -- calls ----------------------------------------------------------------------------------
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if self.target == "shim":
            return updated_node
        made = self._constructor(original_node, updated_node)
        if made is not None:
            return made
        func = original_node.func
        if not isinstance(func, cst.Attribute):
            return updated_node
        method = func.attr.value
        if method == "wait" and not original_node.args and isinstance(func.value, cst.Call):
            inner = func.value.func
            if isinstance(inner, cst.Attribute) and self.kind(inner.value) == "logger":
                # logger.log(...).wait(): MLflow's call is synchronous already.
                assert isinstance(updated_node.func, cst.Attribute)
                self.report(
                    original_node, "Workbench.wait", "workbench-wait", updated_node.func.value
                )
                return updated_node.func.value
        kind = self.kind(func.value)
        if kind is None:
            if method in DISTINCTIVE and self.r.facts.uses_legacy:
                self.report(
                    original_node, f"?.{method}", "unresolved-receiver", None, fidelity="manual"
                )
            return updated_node
        api = f"{'Workbench' if kind == 'logger' else kind.capitalize()}.{method}"
        rule = self.rules.get((kind, method))
        if rule is None:
            manual = MANUAL.get((kind, method))
            if manual is not None:
                self.report(original_node, api, manual, None, fidelity="manual")
            return updated_node
        args = bind_args(rule, updated_node)
        if args is None:
            self.report(original_node, api, "unsupported-call", None, fidelity="manual")
            return updated_node
        assert isinstance(updated_node.func, cst.Attribute)
        ctx = Context(self.r, updated_node.func.value)
        done: Rewrite = rule.fn(ctx, updated_node, args)
        if done.node is None:
            self.report(original_node, api, done.rule, None, done.detail, fidelity="manual")
            return updated_node
        self.needs |= ctx.needs
        self.report(original_node, api, done.rule, done.node, done.detail)
        return done.node

    def _constructor(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression | None:
        """Legacy objects being made: Run.get_context(), Experiment(...), get_azureml_logger()."""
        made = self.r.legacy_class(original.func)
        ctx = Context(self.r, original.func)
        if made == "logger":
            node = active_or_new(ctx)
            self.needs |= ctx.needs
            self.report(original, "get_azureml_logger", "workbench-get-logger", node)
            return node
        if made == "experiment":
            name = next((a for a in updated.args if a.keyword and a.keyword.value == "name"), None)
            positional = [a for a in updated.args if a.keyword is None]
            if name is None and len(positional) >= 2:
                name = positional[1]
            if name is None:
                self.report(original, "Experiment", "unsupported-call", None, fidelity="manual")
                return None
            node = call(ctx.mlflow("set_experiment"), arg(name.value))
            self.needs |= ctx.needs
            self.report(
                original,
                "Experiment",
                "experiment-start-logging",
                node,
                "Experiment(...) becomes mlflow.set_experiment(name).",
            )
            return node
        if made == "run":
            self.report(original, "Run", "run-constructor", None, fidelity="manual")
            return None
        func = original.func
        if made == "workspace" or (
            isinstance(func, cst.Attribute) and self.r.legacy_class(func.value) == "workspace"
        ):
            self.report(original, "Workspace", "workspace", None, fidelity="manual")
            return None
        if isinstance(func, cst.Attribute) and self.r.legacy_class(func.value) == "run":
            if func.attr.value == "get_context":
                node = active_or_new(ctx)
                self.needs |= ctx.needs
                detail = "allow_offline= is dropped." if updated.args else ""
                self.report(original, "Run.get_context", "run-get-context", node, detail)
                return node
            self.report(original, f"Run.{func.attr.value}", "run-get", None, fidelity="manual")
        return None

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        if (
            self.target == "mlflow"
            and original_node.attr.value == "id"
            and self.kind(original_node.value) == "run"
        ):
            node = fill("RUN.info.run_id", RUN=updated_node.value)
            self.report(original_node, "Run.id", "run-id", node)
            return node
        return updated_node

    # -- shim target: only the imports change ---------------------------------------------------
    def leave_ImportFrom(
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.ImportFrom:
        if self.target != "shim" or updated_node.module is None or updated_node.relative:
            return updated_node
        module = self.module.code_for_node(updated_node.module) if self.module else ""
        if module in SHIM_MODULES:
            self.report(
                original_node,
                f"from {module} import",
                "shim-import",
                updated_node.with_changes(module=cst.Name("shims")),
            )
            return updated_node.with_changes(module=cst.Name("shims"))
        return updated_node


class _DropUnusedWorkspaces(cst.CSTTransformer):
    """Remove `ws = Workspace.from_config()` lines whose name nothing uses any more.

    After `Experiment(ws, name)` became `mlflow.set_experiment(name)`, the workspace is usually
    dead code that would keep the legacy import alive. A line with a comment is kept (comments are
    never dropped) and stays reported as manual.
    """

    def __init__(self, resolver: Resolver, used: set[str]) -> None:
        self.r, self.used = resolver, used
        self.removed: set[str] = set()

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        if len(updated_node.body) != 1 or not isinstance(updated_node.body[0], cst.Assign):
            return updated_node
        assign = updated_node.body[0]
        if len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Name):
            return updated_node
        name = assign.targets[0].target.value
        if name in self.used or self.r.kind_of(assign.value, self.r.facts.module) != "workspace":
            return updated_node
        has_comment = any(line.comment for line in updated_node.leading_lines) or (
            updated_node.trailing_whitespace.comment is not None
        )
        if has_comment:
            return updated_node
        self.removed.add(name)
        return cst.RemoveFromParent()


class _Names(cst.CSTVisitor):
    """Every name read in a module (assignment targets excluded)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self._targets: set[int] = set()

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if isinstance(node.target, cst.Name):
            self._targets.add(id(node.target))

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) not in self._targets:
            self.names.add(node.value)


def _fix_imports(tree: cst.Module, needs: set[str], resolver: Resolver) -> cst.Module:
    """Add the imports the rules' output needs; drop legacy imports nothing uses any more."""
    context = CodemodContext()
    for module in sorted(needs):
        AddImportsVisitor.add_needed_import(context, module)
    for module, name, asname in resolver.facts.legacy_imports:
        RemoveImportsVisitor.remove_unused_import(context, module, name, asname)
    tree = AddImportsVisitor(context).transform_module(tree)
    return RemoveImportsVisitor(context).transform_module(tree)


def rewrite_module(source: str, path: str = "<string>", target: Target = "mlflow") -> Result:
    """Rewrite one module's source. Raises `cst.ParserSyntaxError` when it does not parse."""
    if not might_contain_legacy(source):
        return Result(source, source)
    # libcst drops a lone "\r" ending a file: keep it aside and put it back.
    tail = "\r" if source.endswith("\r") else ""
    tree = cst.parse_module(source[: len(source) - len(tail)])
    resolver = Resolver(tree)
    if not resolver.facts.uses_legacy:
        return Result(source, source)
    wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
    rewriter = _Rewriter(resolver, path, target)
    new_tree = wrapper.visit(rewriter)
    if not any(f.rewritten for f in rewriter.findings):
        return Result(source, source, rewriter.findings)
    if target == "mlflow":
        names = _Names()
        new_tree.visit(names)
        dropper = _DropUnusedWorkspaces(resolver, names.names)
        new_tree = new_tree.visit(dropper)
        spaces = [f for f in rewriter.findings if f.rule == "workspace"]
        if spaces and len(dropper.removed) == len(spaces):
            gone = "Removed: nothing used the workspace after the rewrite."
            rewriter.findings = [
                replace(f, fidelity="lossy", detail=gone) if f.rule == "workspace" else f
                for f in rewriter.findings
            ]
        new_tree = _fix_imports(new_tree, rewriter.needs, resolver)
    code = new_tree.code + tail
    if code != source:
        try:
            compile(code, path, "exec", dont_inherit=True)
        except SyntaxError as exc:  # pragma: no cover - a rule bug; never write such output
            raise RewriteError(f"{path}: rewritten code does not compile: {exc}") from exc
    return Result(source, code, rewriter.findings)

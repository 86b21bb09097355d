"""ReaLLM on Python: trace-driven simulation of LLM inference serving, with the Rust engine in
this process (no subprocess, no files unless asked).

Quick start::

    import reallm

    res = reallm.simulate()                        # the built-in default experiment
    print(res.summary_table())                     # what `reallm sim` prints
    res.summary["ttft_s"]["p99"]                   # summary.json, as a dict
    df = res.requests()                            # requests.csv, as a pandas DataFrame

    res = reallm.simulate("configs/system/default_homo.yaml",
                          overrides={"system.num_devices": 4})
    rows = reallm.sweep(None, {"workload.request_rates": [1, 2, 4, 8]})

Functions: :func:`simulate`, :func:`sweep`, :func:`kernel_time`, :func:`plugins`. Errors
raise subclasses of :class:`ReallmError` carrying the CLI's message and exit code. The guide
is ``docs/python.md``.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from reallm import _reallm
from reallm._errors import (
    ConfigError,
    InfeasibleError,
    InputError,
    InternalError,
    IoError,
    PluginError,
    ReallmError,
    UsageError,
)

__version__: str = _reallm.__version__

PathLike = Union[str, "os.PathLike[str]"]
Config = Union[None, PathLike, Mapping[str, Any]]

__all__ = [
    "simulate",
    "sweep",
    "kernel_time",
    "plugins",
    "Result",
    "REQUESTS_COLUMNS",
    "ITERATIONS_COLUMNS",
    "ReallmError",
    "UsageError",
    "ConfigError",
    "InputError",
    "PluginError",
    "InfeasibleError",
    "IoError",
    "InternalError",
    "__version__",
]

#: Columns of :meth:`Result.requests` (those of ``requests.csv``; ``tbt_p99_s`` is named after
#: the config's ``slo.tbt_percentile``). Times are seconds from the start of the trace.
REQUESTS_COLUMNS: Tuple[str, ...] = (
    "request_id",  # the trace's request id
    "replica",  # replica (global index) that ran the prefill
    "decode_replica",  # decode replica (disaggregated systems), else None
    "arrival_s",
    "prompt_tokens",
    "output_tokens",  # asked for
    "generated_tokens",  # produced by the end of the run
    "completed",  # bool: every output token produced
    "preemptions",
    "first_scheduled_s",
    "first_token_s",
    "last_token_s",
    "queueing_s",  # first scheduled - arrival
    "prefill_s",  # first token - first scheduled
    "ttft_s",  # first token - arrival
    "decode_s",  # last token - first token
    "tpot_s",  # decode_s / (generated - 1)
    "e2e_s",  # last token - arrival
    "normalized_latency_s_per_token",  # e2e_s / output tokens
    "tbt_mean_s",  # mean time between tokens
    "tbt_max_s",
    "tbt_p99_s",  # the request's TBT at the SLO percentile
    "kv_transfer_s",  # prefill -> decode KV transfer (disaggregated), else None
    "meets_ttft",  # bool, None where the SLO sets no target
    "meets_tbt",
    "meets_tpot",
    "meets_e2e",
    "meets_slo",  # bool: completed and every set target met
)

#: Columns of :meth:`Result.iterations` (those of ``iterations.csv``): one row per iteration
#: (micro-batch) in scheduling order. With prefix caching on, two more follow, as in the file:
#: ``cached_tokens`` and ``kv_cached_blocks``.
ITERATIONS_COLUMNS: Tuple[str, ...] = (
    "iteration",
    "replica",
    "pool",
    "start_s",
    "end_s",
    "cost_s",
    "seqs",
    "prefill_seqs",
    "prefill_tokens",
    "decode_tokens",
    "tokens",
    "kv_used_blocks",
    "kv_total_blocks",
    "kv_used_fraction",
    "compute_s",
    "comm_s",
    "flops",
    "bytes",
    "mfu",
    "mbu",
)


def _yaml(value: Any) -> str:
    """A Python value as the YAML text of a ``--set KEY=VALUE`` value.

    Strings pass through unchanged (so ``"tp4"`` and ``"[1, 2]"`` mean what they mean on the
    command line); other values are written so that they parse back to themselves.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, os.PathLike):
        return json.dumps(os.fspath(value))
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {_yaml_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_flow(v) for v in value) + "]"
    # numpy scalars and the like
    if hasattr(value, "item"):
        return _yaml(value.item())
    raise UsageError(f"override value {value!r}: expected a string, number, bool, None, list or dict")


def _yaml_flow(value: Any) -> str:
    """A value inside a YAML flow collection (strings quoted)."""
    if isinstance(value, str):
        return json.dumps(value)
    return _yaml(value)


def _overrides(overrides: Optional[Mapping[str, Any]], kw: Mapping[str, Any]) -> List[str]:
    """``--set`` strings from the ``overrides`` dict and keyword overrides.

    A keyword argument's ``__`` stands for a dot: ``workload__request_rates=2`` is
    ``workload.request_rates=2``.
    """
    out: List[str] = []
    for src, dunder in ((overrides or {}, False), (kw, True)):
        for key, value in src.items():
            if not isinstance(key, str):
                raise UsageError(f"override key {key!r}: expected a string like `system.num_devices`")
            if dunder:
                key = key.replace("__", ".")
            out.append(f"{key}={_yaml(value)}")
    return out


def _source(config: Config) -> Tuple[str, Optional[str], Optional[str]]:
    """(kind, value, origin) of a config argument."""
    if config is None:
        return ("default", None, None)
    if isinstance(config, Mapping):
        try:
            text = json.dumps(config, allow_nan=False, default=_json_default)
        except ValueError as e:
            raise UsageError(
                f"config dict: {e} (a non-finite float cannot be written as JSON; pass a YAML string with .inf instead)"
            ) from None
        return ("text", text, "<dict>")
    if isinstance(config, os.PathLike):
        return ("path", os.fspath(config), None)
    if isinstance(config, str):
        if _looks_like_yaml(config):
            return ("text", config, "<string>")
        return ("path", config, None)
    raise UsageError(f"config {config!r}: expected None, a path, a YAML string or a dict")


def _json_default(o: Any) -> Any:
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if isinstance(o, (tuple, set, frozenset)):
        return list(o)
    raise TypeError(f"{o!r} is not a config value")


def _looks_like_yaml(s: str) -> bool:
    """A string is YAML text (not a path) when it has a line break, or a `key: value` /
    flow mapping and names no existing file."""
    if "\n" in s:
        return True
    if os.path.exists(s):
        return False
    t = s.strip()
    return t.startswith("{") or ": " in t or t.endswith(":")


def _pandas(as_frame: Optional[bool]) -> Any:
    """pandas, when it is wanted and importable (``as_frame=True`` requires it)."""
    if as_frame is False:
        return None
    try:
        import pandas as pd  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        if as_frame:
            raise
        return None
    return pd


# pandas dtypes of the table columns: with a missing value, the nullable ones.
_DTYPES = {"int": ("int64", "Int64"), "float": ("float64", "float64"), "bool": ("bool", "boolean")}


def _frame(columns: List[Tuple[str, str, List[Any]]], as_frame: Optional[bool]) -> Any:
    """A DataFrame (when pandas is importable and ``as_frame`` is not False), else a list of
    dicts, from ``[(name, kind, values)]``.

    In a DataFrame, float columns are ``float64`` (NaN where the CSV field is empty), int and
    bool columns ``int64`` / ``bool``, or pandas' nullable ``Int64`` / ``boolean`` when a
    value is missing. In the list of dicts a missing value is None.
    """
    pd = _pandas(as_frame)
    if pd is not None:
        data = {}
        for name, kind, values in columns:
            plain, nullable = _DTYPES[kind]
            dtype = nullable if kind != "float" and any(v is None for v in values) else plain
            data[name] = pd.Series(values, dtype=dtype)
        return pd.DataFrame(data, columns=[c[0] for c in columns])
    names = [c[0] for c in columns]
    return [dict(zip(names, row)) for row in zip(*(c[2] for c in columns))]


class Result:
    """One simulation's outcome: the summary, every request, every iteration.

    Attributes:
        summary: ``summary.json``'s content, as a dict (identical to the CLI's file after
            ``json.load``).
        summary_json: the same, as JSON text.
        trace: the trace simulated (for a generated trace kept in memory: the path the CLI
            would have written it to; for a synthetic or closed-loop run: its name).
        trace_name: the run's name in results (``rr_code_1``, ``synthetic_c8``).
        results_dir: where the result files went (``write=True`` or ``output_dir``), else None.
    """

    __slots__ = ("_run", "_summary")

    def __init__(self, run: "_reallm.SimRun") -> None:
        self._run = run
        self._summary: Optional[Dict[str, Any]] = None

    @property
    def summary(self) -> Dict[str, Any]:
        if self._summary is None:
            self._summary = json.loads(self._run.summary_json)
        return self._summary

    @property
    def summary_json(self) -> str:
        return self._run.summary_json

    @property
    def trace(self) -> str:
        return self._run.trace

    @property
    def trace_name(self) -> str:
        return self._run.trace_name

    @property
    def results_dir(self) -> Optional[str]:
        return self._run.results_dir

    def summary_table(self) -> str:
        """The summary table ``reallm sim`` prints for this run."""
        return self._run.summary_table()

    def requests(self, as_frame: Optional[bool] = None) -> Any:
        """Every request's metrics: the rows and columns of ``requests.csv``
        (:data:`REQUESTS_COLUMNS`), one row per request in arrival order.

        Returns a pandas DataFrame when pandas is installed (``as_frame=False``: always a
        list of dicts). An empty CSV field is None (NaN in a float column); ``completed`` and
        ``meets_*`` are booleans (1/0 in the CSV).
        """
        return _frame(self._run.requests_columns(), as_frame)

    def iterations(self, as_frame: Optional[bool] = None) -> Any:
        """Every iteration (micro-batch): the rows and columns of ``iterations.csv``
        (:data:`ITERATIONS_COLUMNS`).

        Raises :class:`UsageError` when the records were not kept: ``timeline="never"``, or
        ``"auto"`` (the default) with more than 100,000 iterations, where the CLI writes no
        ``iterations.csv`` either; run with ``timeline="always"``.
        """
        return _frame(self._run.iterations_columns(), as_frame)

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"<reallm.Result {s['run']['model']} on {s['run']['system']}, trace {self.trace_name}: "
            f"{s['requests']['completed']}/{s['requests']['total']} requests, "
            f"TTFT p99 {s['ttft_s']['p99'] * 1e3:.2f} ms, TBT p99 {s['tbt_s']['p99'] * 1e3:.2f} ms>"
        )


def simulate(
    config: Config = None,
    *,
    overrides: Optional[Mapping[str, Any]] = None,
    workspace: Optional[PathLike] = None,
    trace: Optional[PathLike] = None,
    write: bool = False,
    output_dir: Optional[PathLike] = None,
    timeline: str = "auto",
    **kw_overrides: Any,
) -> Result:
    """Simulate an experiment: exactly what ``reallm sim`` runs first for the config (its
    first trace, or synthetic requests at its first rate, or its first closed-loop level).

    Args:
        config: None for the built-in default experiment; a path to a YAML config (either
            form, as ``reallm -c FILE``); a YAML string; or a dict (either form).
        overrides: ``{key.path: value}``, the CLI's ``--set key.path=value`` (a string value
            is parsed as YAML, as on the command line).
        **kw_overrides: more overrides, e.g. ``simulate(**{"workload.request_rates": 2})``,
            or with ``__`` for the dots: ``simulate(workload__request_rates=2)``.
        workspace: where traces and the kernel library are looked up (and results written
            when writing): default the config's ``workspace``, else ``./workspace``, as the CLI.
        trace: simulate this trace file instead (``reallm sim --trace FILE``).
        write: also write what ``reallm sim`` writes: the generated trace (when missing) and
            the result folder (``summary.json``, ``requests.csv``, ...). Off by default:
            generated traces are made in memory and nothing touches the disk.
        output_dir: write the results to ``output_dir/<trace>/`` (implies ``write``).
        timeline: ``"auto"`` (keep up to 100,000 iteration records, as the CLI), ``"always"``
            or ``"never"`` (faster; no :meth:`Result.iterations`).

    Returns:
        a :class:`Result`.

    Raises:
        ConfigError, UsageError, InputError, PluginError, InfeasibleError, IoError: with the
            CLI's message and ``exit_code``.
        KeyboardInterrupt: Ctrl-C during the run (the GIL is released while it runs).
    """
    kind, value, origin = _source(config)
    run = _reallm.simulate(
        kind,
        value,
        origin,
        _overrides(overrides, kw_overrides),
        os.fspath(workspace) if workspace is not None else None,
        bool(write),
        os.fspath(output_dir) if output_dir is not None else None,
        os.fspath(trace) if trace is not None else None,
        timeline,
    )
    return Result(run)


def sweep(
    config: Config,
    grid: Union[Mapping[str, Sequence[Any]], Sequence[str]],
    threads: Optional[int] = None,
    *,
    overrides: Optional[Mapping[str, Any]] = None,
    workspace: Optional[PathLike] = None,
    as_frame: Optional[bool] = None,
    **kw_overrides: Any,
) -> Any:
    """Run a grid of experiments in parallel, as ``reallm sweep`` (without writing a CSV).

    Args:
        config: as for :func:`simulate`.
        grid: the axes, first outermost: ``{"workload.request_rates": [1, 2, 4]}``, or the
            CLI's ``["workload.request_rates=1,2,4", ...]``.
        threads: worker threads (default: every core).
        overrides, **kw_overrides: base overrides for every point, as for :func:`simulate`.
        workspace: as for :func:`simulate` (traces are looked up there, never written).
        as_frame: None: a DataFrame when pandas is installed, else a list of dicts.

    Returns:
        one row per (point, run), in point order: ``point``, each axis key with its value,
        ``trace`` (the run's name), then the metric columns of the CLI's sweep CSV (``ttft_p99_s``,
        ``tbt_p99_s``, ``requests_per_s``, ``goodput_requests_per_s``, ``mfu``, ...).
    """
    axes: List[Tuple[str, List[str]]] = []
    if isinstance(grid, Mapping):
        for key, values in grid.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                values = [values]
            axes.append((str(key), [_yaml(v) for v in values]))
    else:
        for spec in grid:
            key, sep, values = str(spec).partition("=")
            vals = [v.strip() for v in values.split(",") if v.strip()]
            if not sep or not key.strip() or not vals:
                raise UsageError(f"--grid `{spec}`: expected KEY.PATH=V1,V2,... with at least one value")
            axes.append((key.strip(), vals))
    if not axes:
        raise UsageError("sweep: give at least one --grid KEY=V1,V2,...")
    kind, value, origin = _source(config)
    text = _reallm.sweep(
        kind,
        value,
        origin,
        _overrides(overrides, kw_overrides),
        axes,
        os.fspath(workspace) if workspace is not None else None,
        threads,
    )
    table = json.loads(text)
    pd = _pandas(as_frame)
    if pd is not None:
        return pd.DataFrame(table["rows"], columns=table["columns"])
    return [dict(zip(table["columns"], row)) for row in table["rows"]]


def kernel_time(
    device: str,
    op: str,
    shape: Sequence[int],
    backend: str = "roofline",
    *,
    dtype: str = "bf16",
    algo: str = "auto",
    scale_out: bool = False,
    params: Union[None, str, Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """Time one kernel or collective on a device with a backend: ``reallm kernel-time --json``.

    Args:
        device: a device preset (``H100-SXM``, ``GH100``, ``GA100``, ...) or a device JSON file.
        op: ``matmul`` (shape M,K,N), ``bmm`` (B,M,K,N), ``grouped_matmul``, ``softmax``,
            ``layernorm``, ``silu``, ``gelu``, ``mul``, ``add``, ``rope`` (M,N), ``embedding``,
            ``topk``, ``flash_attention`` (SEQS,Q,KV,HEADS,KV_HEADS,HEAD_DIM[,CAUSAL]),
            ``decode_attention``, or a collective (``all_reduce`` ..., BYTES,RANKS).
        shape: the dimensions.
        backend: a kernel backend plugin (``roofline``, ``llmcompass``, ...).
        dtype, algo, scale_out: as the CLI's ``--dtype``, ``--algo``, ``--scale-out``.
        params: backend parameters, a dict or YAML text (``--params``).

    Returns:
        ``{"device", "backend", "op", "shape", "dtype", "time_s", "flops", "bytes", "kernel"}``.
    """
    if isinstance(params, Mapping):
        params = json.dumps(params, default=_json_default)
    text = _reallm.kernel_time(device, op, [int(x) for x in shape], backend, dtype, algo, bool(scale_out), params)
    out: Dict[str, Any] = json.loads(text)
    return out


def plugins() -> List[Dict[str, Any]]:
    """The registered plugins (``reallm plugins``): dicts with ``kind``, ``name``, ``version``,
    ``origin``, ``summary``, ``aliases``, ``presets`` and ``example_params``.

    Plugin libraries are loaded once per process, on first use, from ``REALLM_PLUGIN_PATH``
    (and the ``plugin_dirs`` of the first config used); files that fail are skipped with a
    warning on stderr.
    """
    out: List[Dict[str, Any]] = json.loads(_reallm.plugins())["plugins"]
    return out

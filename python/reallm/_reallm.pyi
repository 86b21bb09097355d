"""Type stubs of the extension module ``reallm._reallm`` (PyO3, ``python/src/py.rs``).

Use the functions of the ``reallm`` package instead: they normalise arguments and build
DataFrames; these are the raw bindings they call.
"""

from typing import List, Optional, Tuple, Union

__version__: str

class SimRun:
    """One simulation's result, as built by :func:`simulate`."""

    @property
    def summary_json(self) -> str: ...
    @property
    def trace(self) -> str: ...
    @property
    def trace_name(self) -> str: ...
    @property
    def results_dir(self) -> Optional[str]: ...
    def summary_table(self) -> str: ...
    def requests_columns(self) -> List[Tuple[str, str, List[Union[int, float, bool, None]]]]: ...
    def iterations_columns(self) -> List[Tuple[str, str, List[Union[int, float, None]]]]: ...

def simulate(
    kind: str,
    value: Optional[str],
    origin: Optional[str],
    overrides: List[str],
    workspace: Optional[str] = None,
    write: bool = False,
    output_dir: Optional[str] = None,
    trace: Optional[str] = None,
    timeline: str = "auto",
) -> SimRun: ...
def sweep(
    kind: str,
    value: Optional[str],
    origin: Optional[str],
    overrides: List[str],
    axes: List[Tuple[str, List[str]]],
    workspace: Optional[str] = None,
    threads: Optional[int] = None,
) -> str: ...
def kernel_time(
    device: str,
    op: str,
    shape: List[int],
    backend: str = "roofline",
    dtype: str = "bf16",
    algo: str = "auto",
    scale_out: bool = False,
    params: Optional[str] = None,
) -> str: ...
def plugins() -> str: ...
def cli_main(args: List[str]) -> int: ...

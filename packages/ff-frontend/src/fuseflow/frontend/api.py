"""The frontend's main entry: a model name (zoo or ``file.py:factory``) -> Program."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from fuseflow.ir.dataflow import Program
from fuseflow.ir.errors import FrontendError, is_out_of_memory, out_of_memory


def load_program(model: str, options: dict[str, str] | None = None, dataset: str | None = None,
                 fusion: str = "partial", data_dir: str | None = None) -> Program:
    """Capture ``model`` as a tensor-level Program (no kernels; data and expected filled).

    ``model`` is a zoo name (see ``ff models``) or ``path/to/file.py:factory`` where
    ``factory()`` returns ``(module, example_inputs_tuple)``. ``options`` are the
    model's options as strings (``-m key=value``); ``fusion`` is a preset
    (unfused/partial/full), a registered strategy or a spec like ``g1=l1;g2=l2``.
    """
    from fuseflow.frontend.capture import capture

    module, inputs, name, index_names, meta = build_model(model, options or {}, dataset, data_dir)
    prog = capture(module, inputs, name=name, fusion=fusion, index_names=index_names)
    prog.meta.update(meta)
    return prog


def build_model(model: str, options: dict[str, str], dataset: str | None, data_dir: str | None = None
                ) -> tuple[Any, tuple[Any, ...], str, dict[str, tuple[str, ...]], dict[str, str]]:
    """(module, example inputs, program name, index names, meta) for a model reference."""
    if _is_file_ref(model):
        module, inputs, name = _from_file(model, options, dataset)
        return module, inputs, name, {}, {"source": model}
    from fuseflow.frontend import datasets, zoo

    spec = zoo.get(model)
    opts = spec.parse_options(options)
    ds_name = dataset or spec.default_dataset
    data = datasets.load(ds_name, data_dir) if ds_name else None
    if dataset and not spec.dataset_kinds:
        raise FrontendError(f"model {model} takes no data set (it makes its own inputs)")
    module, inputs = spec.factory(opts, data)
    meta = {"options": ",".join(f"{k}={v}" for k, v in opts.items())}
    if ds_name:
        meta["dataset"] = ds_name
    return module, tuple(inputs), spec.name, dict(spec.index_names), meta


def check_workload(model: str, options: dict[str, str] | None = None, dataset: str | None = None) -> None:
    """Fail fast, without loading data, when ``model`` does not exist, an option is unknown or
    ill-typed, or ``dataset`` is unknown or of a kind the model does not take."""
    if _is_file_ref(model):
        path = Path(model.rpartition(":")[0])
        if not path.is_file():
            raise FrontendError(f"model file {path} does not exist")
        if dataset:
            from fuseflow.frontend import datasets

            datasets.kind_of(dataset)
        return
    from fuseflow.frontend import datasets, zoo
    from fuseflow.ir.errors import DataError

    spec = zoo.get(model)
    spec.parse_options(options)
    if not dataset:
        return
    if not spec.dataset_kinds:
        raise FrontendError(f"model {model} takes no data set (it makes its own inputs)")
    kind = datasets.kind_of(dataset)
    if kind is not None and kind not in spec.dataset_kinds:
        raise DataError(f"model {model} needs a {' or '.join(spec.dataset_kinds)} data set, "
                        f"got {dataset!r}, a {kind}")


def _is_file_ref(model: str) -> bool:
    path, sep, _ = model.rpartition(":")
    return bool(sep) and path.endswith(".py")


def _from_file(ref: str, options: dict[str, str], dataset: str | None) -> tuple[Any, tuple[Any, ...], str]:
    path_s, _, fn_name = ref.rpartition(":")
    path = Path(path_s)
    if not path.is_file():
        raise FrontendError(f"model file {path} does not exist")
    mod_name = f"_fuseflow_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise FrontendError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent.resolve()))
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - the user's file failed to import
        raise FrontendError(f"importing {path} failed: {type(e).__name__}: {e}") from None
    finally:
        sys.path.pop(0)
    factory = getattr(module, fn_name, None)
    if not callable(factory):
        found = [n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == mod_name]
        raise FrontendError(f"{path} has no function {fn_name!r} (functions: {', '.join(found) or 'none'})")
    params = inspect.signature(factory).parameters
    kwargs: dict[str, Any] = {}
    for k, v in options.items():
        if k not in params:
            raise FrontendError(f"{ref} takes no option {k!r} (options: {', '.join(params) or 'none'})")
        kwargs[k] = v
    if dataset is not None:
        if "dataset" not in params:
            raise FrontendError(f"{ref} takes no data set (add a `dataset` parameter to the factory)")
        kwargs["dataset"] = dataset
    try:
        result = factory(**kwargs)
    except FrontendError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's factory failed
        if is_out_of_memory(e):
            raise out_of_memory(f"in {ref} (making the model and its inputs)", e) from None
        raise FrontendError(f"{ref} failed: {type(e).__name__}: {e}") from None
    if not (isinstance(result, tuple) and len(result) == 2):
        raise FrontendError(f"{ref} must return (module, example_inputs_tuple)")
    mod, inputs = result
    if not isinstance(inputs, (tuple, list)):
        inputs = (inputs,)
    name = path.stem if fn_name in ("factory", "model", "make") else f"{path.stem}_{fn_name}"
    return mod, tuple(inputs), name

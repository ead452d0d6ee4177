"""The experiment harness's runs on Dask: ``make sweep ARGS="--scheduler ADDRESS ..."``.

:func:`run_all` trains each :class:`wavenet.experiment.Config` as one Dask task
(:mod:`wavenet.cluster`: a running cluster, or a local one of ``workers``
processes) and writes each run's record here, as it comes back, exactly as a
run on this machine writes it (``runs/<name>.json``). A worker needs a
checkout of the same commit with ``make setup`` done (it reads
``data/names.txt`` itself) and the same ``COURSE_FAST``.

A run sets torch's global seed and thread count, so a worker process trains
one run at a time whatever its threads (start workers with ``--nthreads 1``
and as many processes as cores: ``dask worker ADDRESS --nworkers N --nthreads 1``).
"""
import functools
import threading

_ONE_AT_A_TIME = threading.Lock()


@functools.lru_cache(maxsize=4)
def _data(cfg_key):
    """The dataset of a model kind and block size, built once per worker process."""
    from wavenet.experiment import Data
    return Data(cfg_key)


def _train(cfg, fast):
    """On a worker: one run, its record without the trained model (the client writes the record)."""
    from dataclasses import replace

    from wavenet import config, experiment

    if config.FAST != fast:
        raise RuntimeError(f"COURSE_FAST is {'set' if config.FAST else 'unset'} on this worker and "
                           f"{'set' if fast else 'unset'} on the client: the runs would not be the same")
    with _ONE_AT_A_TIME:  # torch's seed and threads are the process's
        data = _data(replace(experiment.Config(), model=cfg.model, block_size=cfg.block_size))
        record = experiment.run(cfg, log=None, data=data, save=False)
    record.pop("model", None)
    return record


def run_all(cfgs, scheduler=None, workers=1, log=print, security=None):
    """Train every config on Dask; write and return their records, sorted by val loss.

    ``scheduler`` is reached with ``security`` (:func:`wavenet.cluster.client_security`)."""
    from distributed import as_completed

    from wavenet import config, results
    from wavenet.cluster import connect
    from wavenet.experiment import runs_dir

    records = []
    with connect(scheduler, workers=workers, security=security) as client:
        futures = [client.submit(_train, cfg, config.FAST, key=f"run-{cfg.run_name()}", pure=False) for cfg in cfgs]
        for fut, record in as_completed(futures, with_results=True, loop=client.loop):
            record["path"] = str(results.save(record["name"], record, runs_dir()))  # as experiment.run saves
            if log:
                f = record["final"]
                log(f"{record['name']}: {record['params']:,} params, train {f['train']:.4f} val {f['val']:.4f}, "
                    f"{record['wall_s']:.1f}s on {record['device']}")
            records.append(record)
    return sorted(records, key=lambda r: r["final"]["val"])

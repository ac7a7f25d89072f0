"""One rank's share of a packed split, letterboxed in batches, for inference."""

from __future__ import annotations

from collections.abc import Iterator

from clusterhpc.data.packed import PackedSplit
from clusterhpc.data.tf_datasets import detection_dataset
from clusterhpc.hpc.mpi import Comm
from clusterhpc.log import progress


def rank_batches(
    split: PackedSplit, input_size: int, batch_size: int, comm: Comm, desc: str
) -> Iterator[dict]:
    """Batches of this rank's images of `split` (rank r takes images r, r + size, ...), in
    split order and unaugmented, the last one short; with a progress bar named `desc`."""
    plan = split.epoch_plan(0, 0, comm.rank, comm.size, batch_size=None, shuffle=False)
    if not len(plan.indices):
        return
    batches = detection_dataset(
        split,
        plan,
        input_size=input_size,
        batch_size=batch_size,
        max_boxes=1,
        drop_remainder=False,
    )
    yield from progress(batches, total=-(-len(plan.indices) // batch_size), desc=desc)

"""dist_common.py — what the multi-process tests share (dist/mpi_test.py,
dist/cluster_test.py): the training flags of their runs and the error measure
their comparisons use."""
import os


def train_args(data, out, batch, extra=()):
    """A short ref-backend training run on data/train at 64 px, per-rank batch `batch`."""
    return ["train", "--data_dir", os.path.join(data, "train"), "--per_batch_size", str(batch), "--image_size", "64",
            "--max_epoch", "2", "--lr", "0.02", "--warmup_epochs", "0.5", "--out", out, "--log_interval", "1",
            "--workers", "1", "--threads", "1", "--seed", "3", "--backend", "ref"] + list(extra)


def rel_err(a, b):
    """Normalised max error of torch tensors: max|a - b| / max|b|."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()

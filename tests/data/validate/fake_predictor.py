"""A tiny roofline predictor used by the validate tests (no accel models needed).

Numbers are arbitrary test constants, not calibration: the tests only check the harness.
"""

from accel.validate.predictor import Predictor, Unsupported


class Roofline(Predictor):
    description = "test roofline"
    PEAK = {"fp32": 60e12, "tf32": 400e12, "fp16": 800e12, "bf16": 800e12}

    def kernel_time(self, op):
        return max(op.flops / self.PEAK.get(op.dtype, 60e12), op.total_bytes / 3e12) + 5e-6

    def kernel_energy(self, op):
        return self.kernel_time(op) * 600.0

    def transfer_time(self, direction, nbytes, pinned):
        return 10e-6 + nbytes / (50e9 if pinned else 8e9)

    def cpu_kernel_time(self, op, threads):
        return op.flops / (threads * 80e9) + op.total_bytes / 20e9

    def layer_times(self, model, batch, dtype):
        if model != "alexnet":
            raise Unsupported(f"test predictor knows only alexnet, not {model}")
        return {"features.0": 50e-6, "features.1": 20e-6, "classifier.6": 30e-6}

    def model_latency(self, model, mode, dtype, batch):
        return 1e-3 * batch

    def idle_power(self):
        return 100.0


class Perfect(Predictor):
    """Predicts GEMM rows exactly (reads the measured table), for an exact-zero error check."""

    description = "perfect on gemm"
    TABLE = {}

    def kernel_time(self, op):
        a = op.attrs
        return self.TABLE[(op.dtype, a["M"], a["N"], a["K"], a["batch"])]

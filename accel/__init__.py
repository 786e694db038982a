"""accel: hardware simulator and accelerator design-space explorer for deep learning.

Data flows one way (README, "Layout")::

    torch model --workloads.extract--> LayerGraph --accel.sim--> Result --> plot / validate / dse
                                           ^
    archs/*.yaml --accel.arch (schema)--> System (devices + links)
"""

__version__ = "0.1.0"

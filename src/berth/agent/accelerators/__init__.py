"""Accelerator plugins: the interface (:mod:`.base`), NVIDIA GPUs (:mod:`.nvidia`, with MPS
for shares in :mod:`.mps`) and a MOCK GPU for tests and demos (:mod:`.mock`). Which devices
a kernel gets is decided by the pure allocator in :mod:`berth.domain.devices`."""

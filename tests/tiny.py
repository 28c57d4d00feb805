"""The tiny models every test shares live in `zoo.testing` (the parity tool uses them too), and
a probe of quantized loads."""

from zoo.testing import FAMILIES, SMALL, hf_model, tiny_spec, zoo_from_hf

__all__ = ["FAMILIES", "SMALL", "float_layers_while_packing", "hf_model", "tiny_spec",
           "zoo_from_hf"]


def float_layers_while_packing(monkeypatch) -> list[int]:
    """How many linear layers hold float weights each time a layer is packed."""
    from zoo.model.layers import Linear
    from zoo.model.quantize import Packing

    seen: list[int] = []
    pack = Packing._pack

    def counted(self, name):
        seen.append(sum(isinstance(m, Linear) and not m.weight.is_meta
                        for m in self.model.modules()))
        pack(self, name)
    monkeypatch.setattr(Packing, "_pack", counted)
    return seen

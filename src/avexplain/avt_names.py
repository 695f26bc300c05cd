"""Names of the AV-transformer family (paper 002, Tables 1-3), generated from its grid without
importing torch (the Snakefile plans with them; avexplain.models.avt builds them).

A model is one point of the grid below, a `Spec`; its name is `avt_` + the spec's tokens joined
by `_`, so names match the `[a-z0-9_]+` model wildcard:

    avt_{encoder}_{pooling}_{classifier}[_weak]    audio-visual (Table 1 AVEL/AVSDN rows, 2, 3)
    avt_audio_{classifier}[_weak]                  audio only (Table 1 "Audio only+LSTM")
    avt_visual_{classifier}[_weak]                 visual only, GAP (Table 1 "Visual only+LSTM")
    avt_dam                                        DAM (supervised only)

Encoders (of the pool5 regions, before the co-attention): `raw` (the pool5 vectors themselves),
`mlp`, `conv3d`, `lstm`, `transformer` (Eq. 1-2, intra + inter + audio) and its ablations
`intra`, `intra_inter`, `intra_audio`, `inter_audio`. Poolings over the regions: `gap` (spatial
mean, no attention), `ag` (AVEL's audio-guided attention), `avol` (instance attention, Eq. 3-4).
Classifiers: `mlp`, `lstm`, `avsdn`, `avel`. A name is parsed back with `parse` (a lookup in the
generated table, never by splitting, so tokens may contain `_`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import product

PREFIX = "avt"
CLASSIFIERS = ("mlp", "lstm", "avsdn", "avel")
ABLATIONS = ("intra", "intra_inter", "intra_audio", "inter_audio", "transformer")
ENCODERS = ("raw", "mlp", "conv3d", "lstm", *ABLATIONS)
POOLINGS = ("gap", "ag", "avol")
# (intra, inter, audio) switches of Eq. 1-2 for each transformer variant (Table 3 rows)
TRANSFORMER_SWITCHES = {
    "intra": (True, False, False),
    "intra_inter": (True, True, False),
    "intra_audio": (True, False, True),
    "inter_audio": (False, True, True),
    "transformer": (True, True, True),
}


@dataclass(frozen=True)
class Spec:
    """One model of the family. `modality` is "av", "audio" or "visual"; `kind` is "grid" for
    encoder -> pooling -> classifier models and "dam" for the DAM reconstruction."""

    kind: str = "grid"
    modality: str = "av"
    encoder: str = "raw"
    pooling: str = "gap"
    classifier: str = "avel"
    weak: bool = False

    def __post_init__(self):
        checks = {
            "kind": (self.kind, ("grid", "dam")),
            "modality": (self.modality, ("av", "audio", "visual")),
            "encoder": (self.encoder, ENCODERS),
            "pooling": (self.pooling, POOLINGS),
            "classifier": (self.classifier, CLASSIFIERS),
        }
        for key, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"avt Spec: {key}={value!r}, expected one of {allowed}")
        if self.kind == "dam" and self.weak:
            raise ValueError("avt Spec: DAM needs segment labels; it has no weak variant")
        if self.modality != "av" and (self.encoder, self.pooling) != ("raw", "gap"):
            raise ValueError("avt Spec: unimodal models use the raw pool5 map's GAP (AVEL A, V)")

    @property
    def name(self) -> str:
        if self.kind == "dam":
            tokens = ["dam"]
        elif self.modality == "audio":
            tokens = ["audio", self.classifier]
        elif self.modality == "visual":
            tokens = ["visual", self.classifier]
        else:
            tokens = [self.encoder, self.pooling, self.classifier]
        return "_".join([PREFIX, *tokens, *(["weak"] if self.weak else [])])

    def as_dict(self) -> dict:
        return asdict(self)


def _av(encoder: str, pooling: str, classifier: str, weak: bool = False) -> Spec:
    return Spec(encoder=encoder, pooling=pooling, classifier=classifier, weak=weak)


def table1(weak: bool) -> dict[str, Spec | None]:
    """Paper 002 Table 1 rows (full or weak column; row keys as in paper_numbers.yaml
    `av_transformer.table1`) -> the model that reproduces it; the rows
    the paper only cites map to None (printed as cited, not run). AVEL's classifier with a single
    modality is one BiLSTM and the shared head: AVEL's A and V models."""
    rows = {
        "audio_lstm": Spec(modality="audio", classifier="avel", weak=weak),
        "visual_lstm": Spec(modality="visual", classifier="avel", weak=weak),
        "avel": _av("raw", "gap", "avel", weak),
        "avsdn": _av("raw", "gap", "avsdn", weak),
        "avel_att": _av("raw", "ag", "avel", weak),
        "dam": None if weak else Spec(kind="dam"),
        "xuan": None,
        "ramaswamy": None,
        "avin": None,
        "avsdn_instance_attention": _av("transformer", "avol", "avsdn", weak),
        "avel_instance_attention": _av("transformer", "avol", "avel", weak),
    }
    return rows


def _row(encoder: str, pooling: str) -> str:
    """Row keys of paper_numbers.yaml `av_transformer.table2/3`: the paper's full model is `ours`."""
    if (encoder, pooling) == ("transformer", "avol"):
        return "ours"
    if encoder == "transformer":
        return f"av_transformer_{pooling}"
    return f"{encoder}_{pooling}" if pooling != "avol" or encoder not in ABLATIONS else encoder


def table2() -> dict[tuple[str, str], Spec]:
    """Table 2: (visual representation row, classifier column) -> model; supervised. Columns
    are CLASSIFIERS, in the paper's order."""
    return {
        (_row(enc, pool), cls): _av(enc, pool, cls)
        for enc, pool, cls in product(
            ("mlp", "conv3d", "lstm", "transformer"), ("ag", "avol"), CLASSIFIERS
        )
    }


def table3() -> dict[tuple[str, str], Spec]:
    """Table 3: (transformer ablation row, classifier column) -> model (AVOL pooling); the
    full row is the same model as Table 2's last row."""
    return {
        (_row(abl, "avol"), cls): _av(abl, "avol", cls)
        for abl, cls in product(ABLATIONS, CLASSIFIERS)
    }


def _all_specs() -> dict[str, Spec]:
    specs = [s for w in (False, True) for s in table1(w).values() if s is not None]
    specs += [*table2().values(), *table3().values()]
    return {s.name: s for s in specs}


SPECS: dict[str, Spec] = _all_specs()
NAMES: list[str] = list(SPECS)


def parse(name: str) -> Spec:
    """The spec of a family name; any grid point's name parses, not only the tables' models."""
    if name in SPECS:
        return SPECS[name]
    for spec in _grid():
        if spec.name == name:
            return spec
    raise ValueError(f"unknown AV-transformer model '{name}'; the tables use {NAMES}")


def _grid():
    for enc, pool, cls, weak in product(ENCODERS, POOLINGS, CLASSIFIERS, (False, True)):
        yield _av(enc, pool, cls, weak)
    for mod, cls, weak in product(("audio", "visual"), CLASSIFIERS, (False, True)):
        yield Spec(modality=mod, classifier=cls, weak=weak)
    yield Spec(kind="dam")

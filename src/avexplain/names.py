"""Every name the rules and the library share, defined once and torch-free (the Snakefile plans
with them; avexplain.models asserts that its registry builds exactly MODELS)."""

from dataclasses import asdict, dataclass
from itertools import product

SPLITS = ("train", "val", "test")

# Frozen feature extractors (docs/features.md), in the order the config lists them, then
# `vggish_maps`: VGGish's last pooling maps, the tensor `vggish`'s embedding layers read (the AVE
# paper's supplementary Table 3), built when a target asks for it.
BACKBONES = ("vgg19", "resnet152", "vggish", "mc3_18", "vggish_maps")
# The image CNNs run on every frame: the slowest extractions, and most jobs wait for their maps.
IMAGE_BACKBONES = ("vgg19", "resnet152")
# A backbone that is another's network cut short: it reads that network's weight file.
WEIGHTS_OF = {"vggish_maps": "vggish"}

# The models of the STAN paper's Tables 1 and 2 (avexplain.models.REGISTRY).
MODELS = [
    "stan",
    "stan_audio",
    "stan_visual",
    "audio_baseline",
    "visual_baseline",
    "cam",
    "abn",
    "av_cam",
    "av_abn",
    "relationship",
    "average_ensemble",
    "film",
    "attention_fusion",
]
# Models that use only one modality: STAN's acceptance comparison is against each of them.
UNIMODAL = ["stan_audio", "stan_visual", "audio_baseline", "visual_baseline"]

# --- the AVE paper's localization family (avexplain.models.avel, docs/localization.md) -----
# Names of the AVE paper's localization models (avexplain.models.avel), without importing torch:
# the Snakefile plans with them. Each name is a Snakemake wildcard value ([a-z0-9_]).
#
# Families (docs/localization.md): the supervised AVEL models of Table 1 and their weakly
# supervised twins (`w_` prefix); the audio-map models of supplementary Table 3; the fusion methods of Table 2 as `fusion_{operator}_{stage}`
# plus `dmrfe`; ED-TCN; the cross-modality embeddings of Table 3.

AVEL_MODELS = ["a", "v", "v_att", "av", "av_att"]
WEAK_MODELS = [f"w_{name}" for name in AVEL_MODELS]
# supplementary Table 3: A' (VGGish pool4 maps, spatial mean), A'-att (visual-guided audio
# attention), A'+V, A'+V co-attention; their audio input is the AUDIO_MAPS store
AUDIO_MAP_MODELS = ["a_map", "a_map_att", "a_map_v", "a_map_v_coatt"]
AUDIO_MAPS = "vggish_maps"
FUSION_OPERATORS = [
    "additive",
    "mp",
    "gated",
    "mb",
    "gmu",
    "gmb",
    "concat",
    "mrn",
    "dmrn",
]
FUSION_STAGES = ["early", "late", "decision"]
FUSION_MODELS = [f"fusion_{op}_{stage}" for op in FUSION_OPERATORS for stage in FUSION_STAGES]
CML_MODELS = ["avdln", "dcca"]
SEGMENT_MODELS = [
    *AVEL_MODELS,
    *WEAK_MODELS,
    *AUDIO_MAP_MODELS,
    *FUSION_MODELS,
    "dmrfe",
    "ed_tcn",
]
AVEL_NAMES = [*SEGMENT_MODELS, *CML_MODELS]


def localization_task(name: str) -> str:
    """`segment` (per-second C+1 scores) or `cml` (cross-modality embeddings)."""
    if name not in AVEL_NAMES:
        raise KeyError(f"unknown localization model '{name}'; expected one of {AVEL_NAMES}")
    return "cml" if name in CML_MODELS else "segment"


def is_weak_localization(name: str) -> bool:
    """Trained on video-level labels (multiple-instance pooling over time)."""
    return name in WEAK_MODELS


# --- the AV-transformer family (paper 002; avexplain.models.avt, docs/localization.md) ------
# Names of the AV-transformer family (paper 002, Tables 1-3), generated from its grid without
# importing torch (the Snakefile plans with them; avexplain.models.avt builds them).
#
# A model is one point of the grid below, a `Spec`; its name is `avt_` + the spec's tokens joined
# by `_`, so names match the `[a-z0-9_]+` model wildcard:
#
#     avt_{encoder}_{pooling}_{classifier}[_weak]    audio-visual (Table 1 AVEL/AVSDN rows, 2, 3)
#     avt_audio_{classifier}[_weak]                  audio only (Table 1 "Audio only+LSTM")
#     avt_visual_{classifier}[_weak]                 visual only, GAP (Table 1 "Visual only+LSTM")
#     avt_dam                                        DAM (supervised only)
#
# Encoders (of the pool5 regions, before the co-attention): `raw` (the pool5 vectors themselves),
# `mlp`, `conv3d`, `lstm`, `transformer` (Eq. 1-2, intra + inter + audio) and its ablations
# `intra`, `intra_inter`, `intra_audio`, `inter_audio`. Poolings over the regions: `gap` (spatial
# mean, no attention), `ag` (AVEL's audio-guided attention), `avol` (instance attention, Eq. 3-4).
# Classifiers: `mlp`, `lstm`, `avsdn`, `avel`. A name is parsed back with `parse` (a lookup in the
# generated table, never by splitting, so tokens may contain `_`).


AVT_PREFIX = "avt"
AVT_CLASSIFIERS = ("mlp", "lstm", "avsdn", "avel")
AVT_ABLATIONS = ("intra", "intra_inter", "intra_audio", "inter_audio", "transformer")
AVT_ENCODERS = ("raw", "mlp", "conv3d", "lstm", *AVT_ABLATIONS)
AVT_POOLINGS = ("gap", "ag", "avol")
# (intra, inter, audio) switches of Eq. 1-2 for each transformer variant (Table 3 rows)
AVT_TRANSFORMER_SWITCHES = {
    "intra": (True, False, False),
    "intra_inter": (True, True, False),
    "intra_audio": (True, False, True),
    "inter_audio": (False, True, True),
    "transformer": (True, True, True),
}


@dataclass(frozen=True)
class AvtSpec:
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
            "encoder": (self.encoder, AVT_ENCODERS),
            "pooling": (self.pooling, AVT_POOLINGS),
            "classifier": (self.classifier, AVT_CLASSIFIERS),
        }
        for key, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"AvtSpec: {key}={value!r}, expected one of {allowed}")
        if self.kind == "dam" and self.weak:
            raise ValueError("AvtSpec: DAM needs segment labels; it has no weak variant")
        if self.modality != "av" and (self.encoder, self.pooling) != ("raw", "gap"):
            raise ValueError("AvtSpec: unimodal models use the raw pool5 map's GAP (AVEL A, V)")

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
        return "_".join([AVT_PREFIX, *tokens, *(["weak"] if self.weak else [])])

    def as_dict(self) -> dict:
        return asdict(self)


def _avt(encoder: str, pooling: str, classifier: str, weak: bool = False) -> AvtSpec:
    return AvtSpec(encoder=encoder, pooling=pooling, classifier=classifier, weak=weak)


def avt_table1(weak: bool) -> dict[str, AvtSpec | None]:
    """Paper 002 Table 1 rows (full or weak column; row keys as in paper_numbers.yaml
    `av_transformer.table1`) -> the model that reproduces it; the rows
    the paper only cites map to None (printed as cited, not run). AVEL's classifier with a single
    modality is one BiLSTM and the shared head: AVEL's A and V models."""
    rows = {
        "audio_lstm": AvtSpec(modality="audio", classifier="avel", weak=weak),
        "visual_lstm": AvtSpec(modality="visual", classifier="avel", weak=weak),
        "avel": _avt("raw", "gap", "avel", weak),
        "avsdn": _avt("raw", "gap", "avsdn", weak),
        "avel_att": _avt("raw", "ag", "avel", weak),
        "dam": None if weak else AvtSpec(kind="dam"),
        "xuan": None,
        "ramaswamy": None,
        "avin": None,
        "avsdn_instance_attention": _avt("transformer", "avol", "avsdn", weak),
        "avel_instance_attention": _avt("transformer", "avol", "avel", weak),
    }
    return rows


def _avt_row(encoder: str, pooling: str) -> str:
    """Row keys of paper_numbers.yaml `av_transformer.table2/3`: the paper's full model is `ours`."""
    if (encoder, pooling) == ("transformer", "avol"):
        return "ours"
    if encoder == "transformer":
        return f"av_transformer_{pooling}"
    return f"{encoder}_{pooling}" if pooling != "avol" or encoder not in AVT_ABLATIONS else encoder


def avt_table2() -> dict[tuple[str, str], AvtSpec]:
    """Table 2: (visual representation row, classifier column) -> model; supervised. Columns
    are AVT_CLASSIFIERS, in the paper's order."""
    return {
        (_avt_row(enc, pool), cls): _avt(enc, pool, cls)
        for enc, pool, cls in product(
            ("mlp", "conv3d", "lstm", "transformer"), ("ag", "avol"), AVT_CLASSIFIERS
        )
    }


def avt_table3() -> dict[tuple[str, str], AvtSpec]:
    """Table 3: (transformer ablation row, classifier column) -> model (AVOL pooling); the
    full row is the same model as Table 2's last row."""
    return {
        (_avt_row(abl, "avol"), cls): _avt(abl, "avol", cls)
        for abl, cls in product(AVT_ABLATIONS, AVT_CLASSIFIERS)
    }


def _avt_all_specs() -> dict[str, AvtSpec]:
    specs = [s for w in (False, True) for s in avt_table1(w).values() if s is not None]
    specs += [*avt_table2().values(), *avt_table3().values()]
    return {s.name: s for s in specs}


AVT_SPECS: dict[str, AvtSpec] = _avt_all_specs()
AVT_NAMES: list[str] = list(AVT_SPECS)


def avt_parse(name: str) -> AvtSpec:
    """The spec of a family name; any grid point's name parses, not only the tables' models."""
    if name in AVT_SPECS:
        return AVT_SPECS[name]
    for spec in _avt_grid():
        if spec.name == name:
            return spec
    raise ValueError(f"unknown AV-transformer model '{name}'; the tables use {AVT_NAMES}")


def _avt_grid():
    for enc, pool, cls, weak in product(AVT_ENCODERS, AVT_POOLINGS, AVT_CLASSIFIERS, (False, True)):
        yield _avt(enc, pool, cls, weak)
    for mod, cls, weak in product(("audio", "visual"), AVT_CLASSIFIERS, (False, True)):
        yield AvtSpec(modality=mod, classifier=cls, weak=weak)
    yield AvtSpec(kind="dam")


# --- localization training jobs (workflow/rules/training.smk, avexplain.training.localization_runs)
# Supplementary Table 2 of the AVE paper: the V and A+V networks on other visual features (MC3-18
# standing in for C3D, alone or concatenated with the GAP vector of the family's own maps,
# `localization.visual_backbone`: VGG-19 in the paper); name -> (network, visual backbones),
# FAMILY_MAPS standing for that backbone. Its rows A, V_s and AV_s are Table 1's a, v and av.
FAMILY_MAPS = "family_maps"
AVEL_SUPP2 = {
    "v_c3d": ("v", ("mc3_18",)),
    "av_c3d": ("av", ("mc3_18",)),
    "v_s_c3d": ("v", (FAMILY_MAPS, "mc3_18")),
    "av_s_c3d": ("av", (FAMILY_MAPS, "mc3_18")),
}
# AV-transformer models that are AVEL-family networks (pinned parameter for parameter by
# tests/test_avt.py): trained once, under the avel family, and read from there by its tables.
AVT_SHARED = {
    **{
        AvtSpec(modality=m, classifier="avel", weak=w).name: ("w_" if w else "") + a
        for m, a in (("audio", "a"), ("visual", "v"))
        for w in (False, True)
    },
    **{
        _avt("raw", p, "avel", w).name: ("w_" if w else "") + a
        for p, a in (("gap", "av"), ("ag", "av_att"))
        for w in (False, True)
    },
}
LOCALIZATION_FAMILIES = ("avel", "avt")


def _localization_groups(groups: dict) -> dict[str, list[str]]:
    """Each model in the first group that lists it (Table 3's full row is Table 2's last row,
    Table 1's instance-attention rows are Table 2's `ours`); AVT_SHARED models in none."""
    seen = set(AVT_SHARED)
    out = {}
    for group, models in groups.items():
        names = [n for n in dict.fromkeys(models) if n not in seen]
        seen.update(names)
        out[group] = names
    return out


def _names(specs) -> list[str]:
    return [s.name for s in specs if s is not None]


# One training job per dataset x group trains every model of its group with each seed (they
# share the job's features and imports); every model is in exactly one group. Group names are
# `{family}_{name}`; what each table reads is in avexplain.tables.localization. Supplementary
# Table 3's V and V-att rows are Table 1's models (read from avel_table1, not trained again).
LOCALIZATION_GROUPS = _localization_groups(
    {
        "avel_table1": [*AVEL_MODELS, *WEAK_MODELS, "ed_tcn"],
        "avel_table2": [*FUSION_MODELS, "dmrfe"],
        "avel_table3": CML_MODELS,
        "avel_supp2": list(AVEL_SUPP2),
        "avel_supp3": AUDIO_MAP_MODELS,
        "avt_table1": _names([*avt_table1(False).values(), *avt_table1(True).values()]),
        "avt_table2": _names(avt_table2().values()),
        "avt_table3": _names(avt_table3().values()),
    }
)


def localization_family(group: str) -> str:
    return group.split("_", 1)[0]


def localization_group(family: str, model: str) -> str:
    """The group (training job) that trains `model` of `family`."""
    for group, models in LOCALIZATION_GROUPS.items():
        if localization_family(group) == family and model in models:
            return group
    raise KeyError(f"'{model}' is not a trained model of the {family} localization family")


# Localization models whose space attention is scored against synth's boxes beside STAN's
# (avexplain.explain.localization_pointing) and drawn like STAN's attention figures:
# key -> (family, model).
LOCALIZATION_ATTENTION = {
    "ag": ("avel", "av_att"),  # the AVE paper's audio-guided attention (A+V-att)
    "transformer_ag": ("avt", AvtSpec(encoder="transformer", pooling="ag").name),
    "avol": ("avt", AvtSpec(encoder="transformer", pooling="avol").name),  # instance attention
}


# Event-specific fusion layers (shared/papers/003_*; docs/fusion_layers.md): the five layers in
# the order of their logits, and the models of its Table 1 (avexplain.models.fusion_layers).
FUSION_LAYERS = ("continuous", "instant", "onset", "visual", "audio")
FUSION_LAYER_MODELS = ("fusion_layers", "naive_av", "uni_audio", "uni_vision")
FUSION_LAYER_TABLES = tuple(f"fusion_layers_table{k}" for k in (1, 2, 3, 4))

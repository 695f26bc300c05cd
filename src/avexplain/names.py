"""Every name the rules and the library share, defined once and torch-free (the Snakefile plans
with them; avexplain.models asserts that its registry builds exactly MODELS)."""

SPLITS = ("train", "val", "test")

# Frozen feature extractors (docs/features.md), in the order the config lists them.
BACKBONES = ("vgg19", "resnet152", "vggish", "mc3_18")

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

# Event-specific fusion layers (shared/papers/003_*; docs/fusion_layers.md): the five layers in
# the order of their logits, and the models of its Table 1 (avexplain.models.fusion_layers).
FUSION_LAYERS = ("continuous", "instant", "onset", "visual", "audio")
FUSION_LAYER_MODELS = ("fusion_layers", "naive_av", "uni_audio", "uni_vision")
FUSION_LAYER_TABLES = tuple(f"fusion_layers_table{k}" for k in (1, 2, 3, 4))

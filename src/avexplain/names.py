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

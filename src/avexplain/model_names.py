"""The names of the models of the paper's Tables 1 and 2, without importing torch (the Snakefile
needs them to plan; avexplain.models builds them)."""

NAMES = [
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

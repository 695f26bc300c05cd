"""Unimodal baselines (paper section 4.2) and their average ensemble.

- `audio_baseline`: an MLP on every audio segment, averaged over time, a linear classifier.
- `visual_baseline`: a 1x1 conv on every segment's map, averaged over time and space, a linear
  classifier.
- `average_ensemble`: the two baselines side by side, each with its own loss (so it is the same
  as training them apart), predictions averaged as probabilities."""

from __future__ import annotations

import torch
from torch import nn

from avexplain.models.base import Model, VisualModel, bce, output, projection


class AudioBaseline(Model):
    name = "audio_baseline"
    uses_visual = False

    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid):
        super().__init__(visual_dim, audio_dim, num_classes, time_steps, grid)
        self.audio = projection(audio_dim, cfg["embed_dim"], cfg["dropout"])
        self.classifier = nn.Linear(cfg["embed_dim"], num_classes)

    def forward_features(self, visual, audio):
        return output(self.classifier(self.audio(audio).mean(dim=1)))


class VisualBaseline(VisualModel):
    name = "visual_baseline"
    uses_audio = False

    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid):
        super().__init__(visual_dim, audio_dim, num_classes, time_steps, grid)
        self.visual_linear = nn.Linear(visual_dim, cfg["embed_dim"])
        self.visual_act = nn.Sequential(nn.ReLU(), nn.Dropout(cfg["dropout"]))
        self.classifier = nn.Linear(cfg["embed_dim"], num_classes)

    def forward_features(self, visual_projected, audio):
        features = self.visual_act(visual_projected).mean(dim=(1, 2, 3))
        return output(self.classifier(features))


class AverageEnsemble(VisualModel):
    """Probabilities of the audio and the visual baseline, averaged. `logits` are the logit of
    that average, so a sigmoid gives back the averaged probability."""

    name = "average_ensemble"

    def __init__(self, cfg, visual_dim, audio_dim, num_classes, time_steps, grid):
        super().__init__(visual_dim, audio_dim, num_classes, time_steps, grid)
        args = (cfg, visual_dim, audio_dim, num_classes, time_steps, grid)
        self.audio_model = AudioBaseline(*args)
        self.visual_model = VisualBaseline(*args)
        self.visual_linear = self.visual_model.visual_linear

    def forward_features(self, visual_projected, audio):
        audio_logits = self.audio_model.forward_features(None, audio)["logits"]
        visual_logits = self.visual_model.forward_features(visual_projected, None)["logits"]
        mean = (torch.sigmoid(audio_logits) + torch.sigmoid(visual_logits)) / 2
        return output(torch.logit(mean, eps=1e-6), aux_logits=[audio_logits, visual_logits])

    def loss(self, out, targets):
        # each member learns on its own: the ensemble is formed only at prediction time
        return sum(bce(logits, targets) for logits in out["aux_logits"])

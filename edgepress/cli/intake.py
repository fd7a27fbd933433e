"""Turn the CLI's model arguments (a file, or an explicit factory) into an Artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgepress.artifact import Artifact
from edgepress.cli.common import parse_shape
from edgepress.errors import BadInputError


# The options that build a model from the user's code, shared by the commands that take a MODEL.
FactoryOption = Annotated[Optional[str], typer.Option(help="Build the model by calling package.module:function (runs your code).")]
WeightsOption = Annotated[Optional[Path], typer.Option(help="State dict for --factory, read with torch.load(weights_only=True).")]
InputShapeOption = Annotated[Optional[str], typer.Option(help="Input shape like 1x3x224x224 (TorchScript files and --factory).")]


def model_from_args(model: Path | None, factory: str | None, weights: Path | None, input_shape: str | None) -> Artifact:
    """Load MODEL, or build it with --factory (the user's own code, only when named)."""
    from edgepress.intake.files import load
    from edgepress.intake.torch import from_factory

    shape = parse_shape(input_shape)
    if factory:
        if model is not None:
            raise BadInputError("give either a MODEL file or --factory, not both")
        if shape is None:
            raise BadInputError("--factory needs --input-shape (e.g. 1x3x224x224) to trace the model")
        return from_factory(factory, weights, shape)
    if model is None:
        raise BadInputError("name a MODEL file (or --factory package.module:function with --weights)")
    if weights is not None:
        raise BadInputError("--weights goes with --factory; a MODEL file already holds its weights")
    return load(model, input_shape=shape)

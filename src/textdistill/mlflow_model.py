"""Trained models as MLflow pyfunc models, so `mlflow.pyfunc.load_model` can reload and run them.

The pyfunc wraps the project's own loader (`textdistill.predict.Predictor`): the model
directory is logged as an artifact, and `predict` takes a list or a DataFrame with a `text`
column and returns one row per text: label, probability.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

# Imported by name: mlflow binds `mlflow.pyfunc` lazily, which type checkers cannot follow.
from mlflow.pyfunc import PythonModel


class TextdistillPyfunc(PythonModel):
    """Any textdistill model directory (fine-tuned encoder or student) behind pyfunc."""

    def load_context(self, context: Any) -> None:
        from textdistill.predict import Predictor

        self.predictor = Predictor(Path(context.artifacts["model"]))

    def predict(self, context: Any, model_input: Any, params: dict | None = None) -> pd.DataFrame:
        texts = (
            model_input["text"].tolist()
            if isinstance(model_input, pd.DataFrame)
            else list(model_input)
        )
        from textdistill.predict import Prediction

        predictions = []
        for prediction in self.predictor.predict([str(t) for t in texts]):
            if not isinstance(prediction, Prediction):  # only classifiers are logged as pyfunc
                raise TypeError(f"expected a class, got {type(prediction).__name__}")
            predictions.append(prediction)
        return pd.DataFrame(
            {
                "label": [p.label for p in predictions],
                "probability": [p.probability for p in predictions],
            }
        )


def log_pyfunc(tracking_uri: str, run_id: str, model_dir: Path) -> None:
    """Log `model_dir` as the pyfunc model `model` of an existing run."""
    from importlib.metadata import version

    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.pyfunc.log_model(
            name="model",
            python_model=TextdistillPyfunc(),
            artifacts={"model": str(model_dir)},
            # Explicit requirements: skips mlflow's slow import-tracing inference.
            pip_requirements=[
                f"textdistill=={version('textdistill')}",
                f"torch=={version('torch')}",
            ],
        )

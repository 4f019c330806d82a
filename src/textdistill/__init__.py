"""textdistill: fine-tune BERT-family text classifiers and distill them into small students."""

__version__ = "0.1.0"

"""The launch-day scenario behind `hypercare demo`: the script, playing it, and summarizing the run."""

#!/usr/bin/env python3
"""Reads every TensorBoard run under LOG_DIR with the tensorboard package's event
accumulator and prints them as JSON: {run: {"scalars": {tag: [[step, value], ...]},
"images": {tag: [[step, width, height], ...]} (the size of the decoded PNG), "text": {tag: [[step, text], ...]}}}.

A run is a directory holding event files, named by its path under LOG_DIR. Values are the
stored float32 scalars as Python floats; NaN is written as null.

Usage: python3 scripts/tensorboard-dump.py LOG_DIR
"""
import io
import json
import math
import sys

import PIL.Image

from tensorboard.backend.event_processing import event_accumulator, event_multiplexer


def decoded_size(png):
    """The width and height of the image `png`, decoded in full (so checksums are checked)."""
    image = PIL.Image.open(io.BytesIO(png))
    image.load()
    return image.size


def main(log_dir):
    multiplexer = event_multiplexer.EventMultiplexer(
        size_guidance={
            event_accumulator.SCALARS: 0,
            event_accumulator.IMAGES: 0,
            event_accumulator.TENSORS: 0,
        }
    )
    multiplexer.AddRunsFromDirectory(log_dir)
    multiplexer.Reload()
    runs = {}
    for run in sorted(multiplexer.Runs()):
        accumulator = multiplexer.GetAccumulator(run)
        tags = accumulator.Tags()
        runs[run] = {
            "scalars": {
                tag: [
                    [event.step, None if math.isnan(event.value) else event.value]
                    for event in accumulator.Scalars(tag)
                ]
                for tag in tags[event_accumulator.SCALARS]
            },
            "images": {
                tag: [
                    [event.step, *decoded_size(event.encoded_image_string)]
                    for event in accumulator.Images(tag)
                ]
                for tag in tags[event_accumulator.IMAGES]
            },
            "text": {
                tag: [
                    [event.step, event.tensor_proto.string_val[0].decode("utf-8")]
                    for event in accumulator.Tensors(tag)
                ]
                for tag in tags[event_accumulator.TENSORS]
            },
        }
    json.dump(runs, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    main(sys.argv[1])

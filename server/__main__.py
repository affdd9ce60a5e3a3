"""``python -m inpainterz_server``: the same as ``inpainterz serve`` (the add-on starts it this way)."""

import argparse
import sys

from .app import add_serve_arguments, serve_main

parser = argparse.ArgumentParser(prog="inpainterz serve", description="Run the Inpainterz server.")
add_serve_arguments(parser)
sys.exit(serve_main(parser.parse_args()))

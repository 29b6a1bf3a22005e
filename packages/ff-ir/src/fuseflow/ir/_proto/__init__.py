"""Generated protobuf modules (see tools/gen_proto.py); do not edit."""

"""Hardware in the loop: flash boards, measure latency and energy, build lookup tables."""

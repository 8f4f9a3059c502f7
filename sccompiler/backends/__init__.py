"""Code generators (Verilog)."""

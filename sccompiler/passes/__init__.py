"""Compiler passes over the SC netlist IR."""

"""Hardware cost models driven by technology descriptions in targets/."""

"""Import readers and export writers for open formats."""

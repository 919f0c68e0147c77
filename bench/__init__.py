"""Live measurements the lessons quote: `python -m bench --json`."""

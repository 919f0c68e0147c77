"""Evidence for the lessons: trials, simulations, timings, notebook helpers; measures patterns."""

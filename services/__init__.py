"""Application services: use cases that drive workflows through a Temporal client (the simulation
clock, loading a calendar year and re-planning open cases, what-if runs of drafts, moving cases in
flight between item versions). They sit above `banjian/` (the domain, which imports no workflow)
and beside `api/` and the CLI, which call them."""

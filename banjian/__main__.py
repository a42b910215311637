"""`python -m banjian …` is the `banjian` command (how `banjian up` starts its worker processes)."""
from banjian.cli import app

app(prog_name="banjian")

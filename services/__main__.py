"""`python -m services …` is the `banjian` command (how `banjian up` starts its worker processes)."""
from services.cli import app

app(prog_name="banjian")

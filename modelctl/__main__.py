from modelctl.cli import run

run()

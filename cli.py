from qa.cli import main  # `python cli.py ARGS` runs `qa ARGS` from a checkout; not in the wheel
main()
